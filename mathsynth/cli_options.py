"""Command-line options derived from the typed configs, so each option is declared once (config.py).

:func:`config_options` turns a config class's fields into typer options: ``--field-name`` with the
field's description as help and its default shown; ``bool`` -> ``--x/--no-x``; ``Literal`` -> a
choice; ``list[str]`` -> one comma-separated value; a field marked ``path`` -> a path. Fields of
other types (``prices``) are set in a recipe or with ``--set``. ``json_schema_extra={"aliases":
[...]}`` keeps older spellings of a flag working. Every option defaults to None, meaning "not given":
the recipe's value or the config's default applies.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel

#: Options whose value is taken apart before it reaches the config: field name -> converter.
_Converters = dict[str, Callable[[Any], Any]]


def _declaring_class(cls: type[BaseModel], name: str) -> type:
    return next(k for k in cls.__mro__ if name in vars(k).get("__annotations__", {}))


def _strip_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _show(default: Any) -> str | bool:
    if default is None or default is ... or repr(default) == "PydanticUndefined":
        return False
    return ("on" if default else "off") if isinstance(default, bool) else str(default)


def config_options(cls: type[BaseModel], *, skip: Iterable[str] = ()) -> tuple[list[inspect.Parameter], _Converters]:
    """Keyword-only parameters (typer ``Annotated`` options) for the fields of ``cls``.

    >>> from mathsynth.config import EvalConfig
    >>> params, conv = config_options(EvalConfig)
    >>> [p.name for p in params][:3], "prices" in [p.name for p in params], sorted(conv)
    (['executor', 'ray_address', 'workers'], False, ['out', 'rules'])
    >>> conv["rules"]("boxed, last-number")
    ['boxed', 'last-number']
    """
    params, conv = [], {}
    for name, info in cls.model_fields.items():
        if name in set(skip):
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        kind = _strip_none(info.annotation)
        flag = "--" + name.replace("_", "-")
        decls: list[str] = [flag]
        if kind is bool:
            decls = [f"{flag}/--no-{flag[2:]}"]
        elif typing.get_origin(kind) is Literal:
            pass  # typer makes it a choice
        elif typing.get_origin(kind) is list and typing.get_args(kind) == (str,):
            kind = str
            conv[name] = lambda v: [x.strip() for x in v.split(",") if x.strip()]
        elif kind not in (str, int, float):
            continue  # a mapping or such: recipe or --set only
        if extra.get("path"):
            kind = Path
            conv[name] = str
        decls += list(extra.get("aliases", ()))
        # Rich markup would eat "[...]" in help texts such as "openai:<model>[@url]".
        help_text = (info.description or "").replace("[", r"\[")
        option = typer.Option(*decls, help=help_text, show_default=_show(info.default),
                              rich_help_panel=vars(_declaring_class(cls, name)).get("cli_panel"))
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                        annotation=Annotated[kind | None, option]))
    return params, conv


def parse_sets(items: Iterable[str] | None, section: str) -> dict[str, Any]:
    """``--set key=value`` items (``section.key`` also accepted; values read as YAML) as a dict.

    >>> parse_sets(["n=4", "eval.rules=[boxed]", "model=hf:x/y"], "eval")
    {'n': 4, 'rules': ['boxed'], 'model': 'hf:x/y'}
    """
    from mathsynth.recipe import parse_set

    out = {}
    for item in items or ():
        path, value = parse_set(item)
        if len(path) == 2 and path[0] == section:
            path = path[1:]
        if len(path) != 1:
            from mathsynth.errors import MathsynthError

            raise MathsynthError(f"--set {item!r}: expected a field of the '{section}' settings, e.g. n=4")
        out[path[0]] = value
    return out


SETS_OPTION = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", help="set any field (value in YAML), on top of the recipe; repeatable")]


def config_command(cls: type[BaseModel], section: str, *, first: Iterable[str] = (),
                   skip: Iterable[str] = ()) -> Callable:
    """Decorate a command ``fn(..., overrides)``: the fields of ``cls`` become its options (and
    ``--set``); ``fn`` receives the values given on the command line as ``overrides`` (a dict).
    ``first``: fields listed first in ``--help``; the command's own options follow the fields."""

    def deco(fn: Callable) -> Callable:
        derived, conv = config_options(cls, skip=skip)
        order = list(first)
        head = sorted((p for p in derived if p.name in order), key=lambda p: order.index(p.name))
        tail = [p for p in derived if p.name not in order]
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
               for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "overrides"]
        sets = inspect.Parameter("set_values", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=SETS_OPTION)
        names = {p.name for p in derived}

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            overrides = parse_sets(kwargs.pop("set_values", None), section)
            for name in names:
                value = kwargs.pop(name, None)
                if value is not None:
                    overrides[name] = conv[name](value) if name in conv else value
            return fn(**kwargs, overrides=overrides)

        params = head + tail + own + [sets]
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return deco
