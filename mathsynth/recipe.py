"""YAML recipes: one typed dialect for the stage commands and for studies.

A recipe is a mapping. Its ``eval:``, ``train:`` and ``sampled:`` sections are partial
:class:`~mathsynth.config.EvalConfig` / :class:`~mathsynth.config.TrainConfig` (any subset of their
fields), ``synth:`` is a list of jobs, each a partial :class:`~mathsynth.config.SynthConfig` with a
``name`` (a single mapping is one job); the other top-level keys are the study's own
(:class:`StudyConfig`). ``mathsynth eval|synth|train --recipe`` take their section of any recipe;
``mathsynth run|scale`` take the whole. A field is checked once, by its stage config's own type, when
the recipe is read, so a typo or a bad value is one error naming the file, line and field.
"""

from __future__ import annotations

from copy import copy
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError, create_model, field_validator, model_serializer, model_validator

from mathsynth.config import EvalConfig, StageConfig, StudyExecutor, SynthConfig, TrainConfig, build
from mathsynth.errors import InputError, MathsynthError


class Section(StageConfig):
    """A partial stage config: only the fields the recipe sets; the rest come from elsewhere."""

    full: ClassVar[type[StageConfig]]

    @model_serializer(mode="wrap")
    def _only_set(self, handler):
        # Dumps (study.json, stage keys) hold what the recipe wrote, as the untyped dicts did.
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}

    def values(self) -> dict[str, Any]:
        """The fields set, as a dict (the input of the full config).

        >>> EvalSection(n=4).values()
        {'n': 4}
        """
        return self.model_dump()

    def get(self, name: str) -> Any:
        """The value set, else the full config's default.

        >>> TrainSection().get("prompt"), TrainSection(prompt="chat").get("prompt")
        ('vicuna', 'chat')
        """
        return getattr(self, name) if name in self.model_fields_set else self.full.model_fields[name].default


def partial(cls: type[StageConfig], class_name: str, **extra: Any) -> type[Section]:
    """A :class:`Section` class with every field of ``cls`` optional (same types and limits)."""
    fields: dict[str, Any] = {}
    for fname, info in cls.model_fields.items():
        info = copy(info)
        info.default, info.default_factory = None, None
        fields[fname] = (info.annotation, info)
    model = create_model(class_name, __base__=Section, __doc__=f"Any subset of the fields of {cls.__name__}.",
                         __module__=__name__, **fields, **extra)
    model.full = cls
    return model


EvalSection = partial(EvalConfig, "EvalSection")
TrainSection = partial(TrainConfig, "TrainSection")
SynthJob = partial(SynthConfig, "SynthJob", name=(str | None, Field(
    None, description="the job's folder under synth/ (letters, digits, - or _; a study needs one per job)")))
#: Fields a study sets itself in each section (its stages' models, benchmarks, data and folders).
SET_BY_STUDY = {"eval": ("model", "benchmark", "out"), "sampled": ("model", "benchmark", "out"),
                "synth": ("out",), "train": ("model", "data", "out")}


class Recipe(StageConfig):
    """Any recipe file: stage sections plus the study's own settings (all optional here).

    >>> Recipe(synth={"teacher": "symbolic"}).synth[0].teacher
    'symbolic'
    """

    out: str | None = Field(None, description="study folder")
    model: str = Field("smollm2-135m", description="the base model, and the student's starting point")
    benchmarks: list[str] = Field(default_factory=lambda: ["gsm8k"], description="test sets every model is "
                                                                                 "evaluated on")
    eval: EvalSection = Field(default_factory=EvalSection, description="settings of every eval")
    synth: list[SynthJob] = Field(default_factory=list, description="synthesis jobs")
    train: TrainSection = Field(default_factory=TrainSection, description="settings of every training")
    sizes: list[int] | None = Field(None, description="scale: nested training-set sizes (geometric)")
    real: str | None = Field(None, description="scale: also train on this seed data (reference solutions)")
    real_sizes: list[int] | None = Field(None, description="scale: sizes with a real-data student "
                                                           "(default: all that fit)")
    real_max_steps: int | None = Field(None, ge=1, description="real arm: seeds with at most this many steps")
    real_decontam_benchmarks: list[str] | None = Field(None, description="real arm: decontaminate against "
                                                                         "these tests")
    real_embeddings: bool = Field(True, description="real arm: embedding decontamination, as the synthetic arm")
    sampled: EvalSection | None = Field(None, description="a second, sampled eval of every model, on top of "
                                                          "'eval' (e.g. {limit: 250, n: 4})")
    base_formats: list[str] = Field(default_factory=list, description="also evaluate the base in these "
                                                                      "prompt formats")
    repeat_sizes: list[int] = Field(default_factory=list, description="scale: extra students at these sizes ...")
    repeat_seeds: list[int] = Field(default_factory=list, description="... trained with these other seeds (noise)")
    primary_outcome: str | None = Field(None, description="pre-registered 'bench/data/metric' slope, written "
                                                          "to result.json")
    report: bool = Field(True, description="write report/ at the end")
    executor: StudyExecutor = Field(default_factory=StudyExecutor, description="studies: where stages run "
                                    "({kind: ray, ...}: independent stages as concurrent Ray tasks)")

    @field_validator("synth", mode="before")
    @classmethod
    def _one_job(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    def synth_job(self, name: str | None = None) -> dict[str, Any]:
        """The settings of one synth job (``name`` may be omitted when there is one).

        >>> Recipe(synth=[{"name": "a", "limit": 3}]).synth_job()
        {'limit': 3}
        """
        if not self.synth:
            return {}
        names = [j.name for j in self.synth]
        if name is None and len(self.synth) > 1:
            raise MathsynthError(f"the recipe has {len(names)} synth jobs ({', '.join(map(str, names))}); "
                                 "pick one with --job")
        job = self.synth[0] if name is None else next((j for j in self.synth if j.name == name), None)
        if job is None:
            raise MathsynthError(f"the recipe has no synth job {name!r} (it has {', '.join(map(str, names))})")
        return {k: v for k, v in job.values().items() if k != "name"}


class StudyConfig(Recipe):
    """A whole study (``mathsynth run`` / ``mathsynth scale``): base eval -> synth -> train -> eval -> report.

    The sections hold what the study does not set itself (models, benchmarks, data and folders).

    >>> StudyConfig(out="runs/x").benchmarks
    ['gsm8k']
    >>> StudyConfig(out="x", eval={"model": "m"})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for StudyConfig
    ...
    """

    out: str = Field(description="study folder")

    @model_validator(mode="after")
    def _study_sets(self) -> StudyConfig:
        for section, fixed in SET_BY_STUDY.items():
            got = getattr(self, section)
            blocks = got if isinstance(got, list) else [got] if got is not None else []
            clash = sorted({k for b in blocks for k in b.model_fields_set} & set(fixed))
            if clash:
                raise ValueError(f"study recipe: '{section}' must not set {', '.join(clash)} (the study sets them)")
        names = [job.name for job in self.synth]
        if any(not n or not n.replace("-", "").replace("_", "").isalnum() for n in names) \
                or len(set(names)) != len(names):
            raise ValueError("study recipe: every synth job needs a unique 'name' (letters, digits, - or _)")
        return self


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a YAML recipe file into a plain dict (not yet validated; see :func:`read_recipe`).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.yaml"
    >>> _ = p.write_text("eval:\\n  n: 4\\n")
    >>> load_recipe(p)["eval"]["n"]
    4
    """
    return _load(Path(path))[0]


def _load(path: Path) -> tuple[dict[str, Any], dict[tuple, int]]:
    import yaml

    if not path.exists():
        raise InputError("recipe file not found", path=str(path))
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
        lines = _key_lines(yaml.compose(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=str(path),
                         line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise InputError("a recipe must be a mapping of stage sections", path=str(path))
    return data, lines


def _key_lines(node: Any, prefix: tuple = ()) -> dict[tuple, int]:
    """The 1-based line of every key (and list item) of a composed YAML document."""
    import yaml

    out: dict[tuple, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            loc = (*prefix, k.value)
            out[loc] = k.start_mark.line + 1
            out.update(_key_lines(v, loc))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[(*prefix, i)] = v.start_mark.line + 1
            out.update(_key_lines(v, (*prefix, i)))
    return out


def parse_set(item: str) -> tuple[list[str], Any]:
    """A ``--set`` item: its key path and its value (read as YAML).

    >>> parse_set("synth.sym.limit=40"), parse_set("benchmarks=[svamp, asdiv]")
    ((['synth', 'sym', 'limit'], 40), (['benchmarks'], ['svamp', 'asdiv']))
    """
    import yaml

    key, sep, raw = item.partition("=")
    if not sep or not key.strip() or any(not p for p in key.strip().split(".")):
        raise MathsynthError(f"--set {item!r}: expected KEY=VALUE, e.g. eval.n=4")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise MathsynthError(f"--set {item!r}: the value is not valid YAML") from None
    return key.strip().split("."), value


def apply_sets(data: dict[str, Any], items: list[str]) -> dict[str, Any]:
    """Put ``--set`` values into a raw recipe; a synth job is named by its ``name`` (or index).

    >>> apply_sets({"synth": [{"name": "sym", "limit": 5}]}, ["synth.sym.limit=8", "eval.n=4"])
    {'synth': [{'name': 'sym', 'limit': 8}], 'eval': {'n': 4}}
    """
    import copy as _copy

    data = _copy.deepcopy(data)
    for item in items:
        path, value = parse_set(item)
        node: Any = data
        for i, part in enumerate(path[:-1]):
            if isinstance(node, dict):
                if isinstance(node.get(part), dict | list):
                    node = node[part]
                    if isinstance(node, dict) and part == "synth" and i == 0 and len(path) > 2 and \
                            path[1] not in SynthConfig.model_fields:
                        node = data[part] = [node]  # a one-job mapping, addressed by name
                    continue
                node = node.setdefault(part, {})
            elif isinstance(node, list):
                found = next((x for x in node if isinstance(x, dict) and x.get("name") == part), None)
                if found is None and part.isdigit() and int(part) < len(node):
                    found = node[int(part)]
                if found is None:
                    raise MathsynthError(f"--set {item!r}: no item {part!r} in '{'.'.join(path[:i])}'")
                node = found
            else:
                raise MathsynthError(f"--set {item!r}: '{'.'.join(path[:i])}' is not a section")
        if not isinstance(node, dict):
            raise MathsynthError(f"--set {item!r}: '{'.'.join(path[:-1])}' is not a section")
        node[path[-1]] = value
    return data


def read_recipe(path: str | Path | None, cls: type[Recipe] = Recipe,
                updates: dict[str, Any] | None = None, sets: list[str] | None = None) -> Recipe:
    """Read and validate a recipe (``updates``: top-level values from the command line, on top;
    ``sets``: ``--set section.key=value`` items).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.yaml"
    >>> _ = p.write_text("eval:\\n  n: 4\\ntrain:\\n  epochs: 1\\n")
    >>> read_recipe(p).train.get("epochs"), read_recipe(p, updates={"model": "m"}).model
    (1.0, 'm')
    >>> _ = p.write_text("eval:\\n  n: 4\\n  nn: 3\\n")
    >>> read_recipe(p)
    Traceback (most recent call last):
    ...
    mathsynth.errors.MathsynthError: ...r.yaml:3: eval: field 'nn': Extra inputs are not permitted
    """
    data, lines = _load(Path(path)) if path is not None else ({}, {})
    data = apply_sets({**data, **(updates or {})}, list(sets or ()))
    try:
        return cls(**data)
    except ValidationError as exc:
        raise MathsynthError("; ".join(_where(e, path, lines) for e in exc.errors())) from None


def _where(err: dict, path: Any, lines: dict[tuple, int]) -> str:
    loc = tuple(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    # the line of the deepest key the file has (a missing field has none; its section has one)
    line = next((lines[loc[:k]] for k in range(len(loc), 0, -1) if loc[:k] in lines), None)
    head = f"{path}:{line}: " if path is not None and line else f"{path}: " if path is not None else \
        "invalid study recipe: "
    if not loc:
        return head + msg
    section = "".join(f"[{x}]" if isinstance(x, int) else (f".{x}" if i else str(x))
                      for i, x in enumerate(loc[:-1]))
    return head + (f"{section}: " if section else "") + f"field '{loc[-1]}': {msg}"


def resolve(cls: type[StageConfig], section: str, recipe: str | Path | None,
            overrides: dict[str, Any], job: str | None = None) -> StageConfig:
    """A stage's config: its section of the recipe, then command-line ``overrides`` (those not None).

    >>> resolve(EvalConfig, "eval", None, {"out": "x", "n": 8, "limit": None}).n
    8
    """
    values: dict[str, Any] = {}
    where = "command line"
    if recipe is not None:
        rec = read_recipe(recipe)
        values.update(rec.synth_job(job) if section == "synth" else getattr(rec, section).values())
        where = f"{recipe} (section '{section}') or the command line"
    values.update({k: v for k, v in overrides.items() if v is not None})
    return build(cls, values, f"invalid {section} settings in {where}")
