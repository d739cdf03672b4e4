"""Tests for mathsynth.data: registry, loaders, the demo benchmark and the (mocked) hub fallback.

Real-data tests read $MATHSYNTH_DATA_DIR (CI sets it to ../shared/data) and are skipped without it.
No test touches the network: the hub probe is patched to "unreachable" unless a test mocks ``datasets``.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import sys
import types
from fractions import Fraction
from pathlib import Path

import pytest

import mathsynth.data.hub as hub
import mathsynth.data.loaders as loaders
import mathsynth.data.registry as registry
from mathsynth.data import (
    BenchmarkInfo,
    Problem,
    count_steps,
    get_benchmark,
    last_boxed,
    list_benchmarks,
    load_benchmark,
)
from mathsynth.errors import InputError, MathsynthError

_REAL_PROBE = hub.hub_reachable
REAL_DIR = os.environ.get("MATHSYNTH_DATA_DIR", "").strip()
needs_data = pytest.mark.skipif(
    not REAL_DIR or not Path(REAL_DIR).is_dir(),
    reason="MATHSYNTH_DATA_DIR is not set to the benchmark data folder (CI sets it to ../shared/data)")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """The hub is 'unreachable' by default, so nothing here can reach the network."""
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=None: False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)


@pytest.fixture
def no_data_dir(monkeypatch):
    monkeypatch.delenv("MATHSYNTH_DATA_DIR", raising=False)


@pytest.fixture
def real_data(monkeypatch):
    monkeypatch.setenv("MATHSYNTH_DATA_DIR", REAL_DIR)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# ---- registry ---------------------------------------------------------------------------------------------

def test_registry_lists_benchmarks_and_splits():
    infos = {b.name: b for b in list_benchmarks()}
    assert list(infos) == ["gsm8k", "math", "math500", "svamp", "asdiv", "demo"]
    assert all(isinstance(b, BenchmarkInfo) and b.description and b.source for b in infos.values())
    assert infos["gsm8k"].splits == ("train", "test")
    assert infos["math"].splits == ("train", "test")
    assert infos["math500"].splits == ("test",)
    assert infos["svamp"].splits == infos["demo"].splits == ("test",)
    assert infos["asdiv"].splits == ("test", "grade1-3", "grade4-6")   # grade subsets of the test file
    assert get_benchmark("GSM8K") is infos["gsm8k"]


def test_doctests_run(no_data_dir):
    for mod in (registry, loaders, hub, sys.modules["mathsynth.data"]):
        result = doctest.testmod(mod)
        assert result.failed == 0 and result.attempted > 0, mod.__name__


# ---- demo -------------------------------------------------------------------------------------------------

def _check_calc(solution: str) -> None:
    for expr, value in re.findall(r"<<([^<>=]*)=([^<>]*)>>", solution):
        assert re.fullmatch(r"[\d+\-*/(). ]+", expr), expr
        assert abs(eval(expr) - float(value)) < 1e-9, (expr, value)  # noqa: S307 - digits/operators only


def test_demo_loads_without_data_dir(no_data_dir):
    probs = load_benchmark("demo")
    assert 28 <= len(probs) <= 35
    assert len({p.id for p in probs}) == len(probs)
    word = [p for p in probs if "level" not in p.meta]
    comp = [p for p in probs if "level" in p.meta]
    assert len(word) >= 18 and len(comp) >= 8
    for p in probs:
        assert p.question and p.answer and p.solution
        assert p.meta["benchmark"] == "demo" and p.meta["split"] == "test"
    for p in word:  # GSM8K-style: annotated arithmetic that checks out, ending in "#### answer"
        assert p.meta["steps"] == count_steps(p.solution) >= 1
        assert p.solution.rstrip().endswith(f"#### {p.answer}")
        _check_calc(p.solution)
        float(p.answer)
    for p in comp:  # MATH-style: answer is the last \boxed{}
        assert last_boxed(p.solution) == p.answer
        assert p.meta["level"] in range(1, 6) and p.meta["subject"]
    answers = {p.answer for p in comp}
    assert {r"\frac{3}{4}", r"2\sqrt{3}"} <= answers


def test_demo_spot_check_answers(no_data_dir):
    by_id = {p.id: p for p in load_benchmark("demo")}
    assert by_id["demo-01"].answer == str((150 - 12) // 6)
    assert by_id["demo-22"].answer == "0.75"
    assert Fraction(2, 3) + Fraction(1, 12) == Fraction(3, 4) and by_id["demo-24"].answer == r"\frac{3}{4}"


def test_limit_and_split_in_name(no_data_dir):
    full = load_benchmark("demo")
    assert load_benchmark("demo", limit=5) == full[:5]
    assert load_benchmark("demo", limit=0) == []
    assert load_benchmark("demo:test", split="train") == full  # split in the name wins
    with pytest.raises(MathsynthError, match="limit"):
        load_benchmark("demo", limit=-1)


def test_problem_to_dict_roundtrip(tmp_path, no_data_dir):
    probs = load_benchmark("demo", limit=3)
    d = probs[0].to_dict()
    assert set(d) == {"id", "question", "answer", "solution", "meta"}
    assert Problem.from_dict(d) == probs[0]
    path = write_jsonl(tmp_path / "saved.jsonl", [p.to_dict() for p in probs])
    again = load_benchmark(str(path))
    assert [(p.id, p.answer, p.meta["steps"]) for p in again] == [(p.id, p.answer, p.meta["steps"]) for p in probs]
    assert again[0].meta["benchmark"] == "saved"


# ---- real data --------------------------------------------------------------------------------------------

@needs_data
@pytest.mark.parametrize("spec,n", [("gsm8k", 1319), ("gsm8k:train", 7473), ("math", 5000),
                                    ("math:train", 7500), ("math500", 500), ("svamp", 1000),
                                    ("asdiv", 2159)])
def test_counts_and_unique_ids(real_data, spec, n):
    probs = load_benchmark(spec)
    assert len(probs) == n
    assert len({p.id for p in probs}) == n
    name, _, split = spec.partition(":")
    assert all(p.meta["benchmark"] == name and p.meta["split"] == (split or "test") for p in probs)
    assert all(p.question.strip() and isinstance(p.answer, str) for p in probs)


@needs_data
def test_gsm8k_first_problem(real_data):
    p = load_benchmark("gsm8k", limit=1)[0]
    assert p.id == "gsm8k/test/0"
    assert p.question.startswith("Janet")
    assert p.answer == "18"
    assert p.meta["steps"] == 2
    assert p.solution.endswith("#### 18")
    train = load_benchmark("gsm8k", split="train")
    assert all(p.answer == p.answer.replace(",", "") for p in train)
    assert all(p.meta["steps"] == p.solution.count("<<") for p in train)


@needs_data
def test_math_level_subject_and_math500_subset(real_data):
    subjects = {"Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra",
                "Number Theory", "Prealgebra", "Precalculus"}
    test = load_benchmark("math")
    assert all(p.meta["level"] in range(1, 6) and p.meta["subject"] in subjects for p in test)
    assert all(p.id.startswith("test/") and p.id.endswith(".json") for p in test)
    train = load_benchmark("math", split="train")
    assert sum(p.meta["level"] is None for p in train) == 2
    m500 = load_benchmark("math500")
    assert m500[0].id == "test/precalculus/807.json"
    by_id = {p.id: p for p in test}
    assert {p.id for p in m500} <= set(by_id)
    assert all(by_id[p.id].answer == p.answer for p in m500)
    assert all(last_boxed(p.solution) == p.answer for p in test)


@needs_data
def test_svamp_asdiv_ids(real_data):
    assert load_benchmark("svamp", limit=1)[0].id == "chal-1"
    a = load_benchmark("asdiv", limit=1)[0]
    assert (a.id, a.answer) == ("nluds-0001", "9")


# ---- JSONL files ------------------------------------------------------------------------------------------

def test_jsonl_file_path(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [
        {"question": "What is 2+2?", "answer": 4, "source": "me"},
        {"id": "b", "question": "Half of 5?", "answer": 2.5, "solution": "5/2=<<5/2=2.5>>2.5"},
        "",
        {"question": "Ten?", "answer": 10.0},
        {"question": "GSM-style?", "answer": "1+1=<<1+1=2>>2\n#### 2"},
    ])
    probs = load_benchmark(str(path), split="dev")
    assert [p.id for p in probs] == ["mine/dev/0", "b", "mine/dev/2", "mine/dev/3"]
    assert [p.answer for p in probs] == ["4", "2.5", "10", "2"]
    assert probs[0].meta == {"benchmark": "mine", "split": "dev", "source": "me"}
    assert probs[1].solution and probs[1].meta["steps"] == 1
    assert probs[3].solution.endswith("#### 2") and probs[3].meta["steps"] == 1
    assert load_benchmark(str(path), limit=2) == load_benchmark(str(path))[:2]


@pytest.mark.parametrize("rows,line,needle", [
    ([{"question": "q", "answer": "1"}, '{"question": "q", "answer": '], 2, "not valid JSON"),
    ([{"question": "q", "answer": "1"}, {"question": "q"}], 2, "field 'answer' is missing"),
    ([{"question": "q", "answer": "1"}, "", {"answer": "3"}], 3, "field 'question' is missing"),
    ([{"problem": "q", "answer": "3"}], 1, "rename it to 'question'"),
    ([{"question": "q", "answer": [1, 2]}], 1, "field 'answer' must be a string or a number"),
    ([{"question": "q", "answer": True}], 1, "field 'answer' must be a string or a number"),
    ([{"question": "q", "answer": " "}], 1, "field 'answer' is empty"),
    ([{"question": 7, "answer": "1"}], 1, "field 'question' must be a string"),
    ([[1, 2]], 1, "expected a JSON object"),
    ([{"id": "a", "question": "q", "answer": "1"}, {"id": "a", "question": "r", "answer": "2"}], 2,
     "field 'id' repeats 'a' (first seen on line 1)"),
    ([{"question": "q", "answer": "no final line ##"}, {"question": "q", "answer": "x\n####"}], 2,
     "field 'answer' has nothing after '####'"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, rows, line, needle):
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputError) as exc:
        load_benchmark(str(path))
    msg = str(exc.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert needle in msg


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(InputError, match="file not found") as exc:
        load_benchmark(str(missing))
    assert str(missing) in str(exc.value)
    with pytest.raises(InputError, match="not a file"):
        load_benchmark(str(tmp_path) + "/")


def test_unknown_benchmark_and_split(no_data_dir):
    with pytest.raises(MathsynthError) as exc:
        load_benchmark("gsm9k")
    assert "unknown benchmark 'gsm9k'" in str(exc.value)
    assert all(n in str(exc.value) for n in ("gsm8k", "math500", "svamp", "asdiv", "demo"))
    with pytest.raises(MathsynthError, match=r"unknown split 'dev' for benchmark 'gsm8k'; valid splits: train, test"):
        load_benchmark("gsm8k", split="dev")
    with pytest.raises(MathsynthError, match=r"valid splits: test"):
        load_benchmark("math500:train")


# ---- MATHSYNTH_DATA_DIR layouts ---------------------------------------------------------------------------

def test_data_dir_missing_file_names_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MATHSYNTH_DATA_DIR", str(tmp_path))
    with pytest.raises(MathsynthError) as exc:
        load_benchmark("svamp")
    assert str(tmp_path / "svamp" / "svamp.jsonl") in str(exc.value)
    monkeypatch.setenv("MATHSYNTH_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(MathsynthError, match="not a folder"):
        load_benchmark("gsm8k")


def test_gsm8k_without_hashes_names_file_line_field(tmp_path, monkeypatch):
    (tmp_path / "gsm8k").mkdir()
    path = write_jsonl(tmp_path / "gsm8k" / "test.jsonl", [
        {"question": "q1", "answer": "1+1=<<1+1=2>>2\n#### 2"},
        {"question": "q2", "answer": "the answer is 5"},
    ])
    monkeypatch.setenv("MATHSYNTH_DATA_DIR", str(tmp_path))
    assert load_benchmark("gsm8k", limit=1)[0].answer == "2"  # limit stops before the bad line
    with pytest.raises(InputError) as exc:
        load_benchmark("gsm8k")
    assert str(exc.value).startswith(f"{path}:2: field 'answer' has no '####")


def test_math_layout_errors(tmp_path, monkeypatch):
    (tmp_path / "math").mkdir()
    path = write_jsonl(tmp_path / "math" / "test500.jsonl", [
        {"problem": "p", "solution": r"so $\boxed{\frac{1}{2}}$", "level": "Level 2", "subject": "Algebra",
         "unique_id": "test/algebra/1.json"},
        {"problem": "p", "solution": "no box", "level": 3, "subject": "Algebra", "unique_id": "test/x/2.json"},
    ])
    monkeypatch.setenv("MATHSYNTH_DATA_DIR", str(tmp_path))
    first = load_benchmark("math500", limit=1)[0]
    assert (first.answer, first.meta["level"]) == (r"\frac{1}{2}", 2)
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}:2: field 'answer' is missing"):
        load_benchmark("math500")


# ---- hub fallback (datasets mocked; never the network) ----------------------------------------------------

HUB_ROWS = {
    ("openai/gsm8k", "main", "test"): [{"question": "Q?", "answer": "2*3=<<2*3=6>>6\n#### 6"}],
    ("HuggingFaceH4/MATH-500", None, "test"): [
        {"problem": "P", "solution": r"\boxed{3}", "answer": "3", "subject": "Algebra", "level": 1,
         "unique_id": "test/algebra/5.json"}],
    ("ChilleD/SVAMP", None, "train"): [{"ID": "chal-3", "Body": "B3.", "Question": "Q3?", "Answer": 7.0,
                                         "Equation": "( 3.0 + 4.0 )", "Type": "Addition"}],
    ("ChilleD/SVAMP", None, "test"): [{"ID": "chal-1", "Body": "B1.", "Question": "Q1?", "Answer": 2.5,
                                        "Equation": "( 5.0 / 2.0 )", "Type": "Common-Division"}],
    ("EleutherAI/asdiv", "asdiv", "validation"): [
        {"body": "Two and two.", "question": "How many?", "answer": "4 (apples)", "solution_type": "Addition",
         "formula": "2+2=4"},
        {"body": "Who?", "question": "Name?", "answer": "Mrs. Hilt", "solution_type": "", "formula": ""},
        {"body": "Cost.", "question": "How much?", "answer": "9.80 (dollars)", "solution_type": "", "formula": ""}],
}


@pytest.fixture
def fake_datasets(monkeypatch, no_data_dir):
    calls = []

    def load_dataset(repo, config=None, split=None):
        calls.append((repo, config, split))
        if repo == "EleutherAI/hendrycks_math":
            return [{"problem": f"{config} p", "solution": r"$\boxed{ 1 }$", "level": "Level ?" if
                     config == "geometry" else "Level 4", "type": config.title()}]
        return HUB_ROWS[(repo, config, split)]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=None: True)
    return calls


def test_hub_fallback_maps_fields(fake_datasets):
    g = load_benchmark("gsm8k")
    assert (g[0].id, g[0].answer, g[0].meta["steps"]) == ("gsm8k/test/0", "6", 1)
    assert ("openai/gsm8k", "main", "test") in fake_datasets
    m = load_benchmark("math500")[0]
    assert (m.id, m.answer, m.meta["level"]) == ("test/algebra/5.json", "3", 1)
    s = load_benchmark("svamp")
    assert [(p.id, p.question, p.answer) for p in s] == [("chal-1", "B1. Q1?", "2.5"), ("chal-3", "B3. Q3?", "7")]
    a = load_benchmark("asdiv")
    assert [(p.id, p.answer) for p in a] == [("nluds-0001", "4"), ("nluds-0003", "9.8")]
    assert a[0].question == "Two and two. How many?"
    math = load_benchmark("math:train")
    assert len(math) == 7 and all(p.answer == "1" for p in math)
    assert math[0].id == "train/algebra/0"
    assert {p.meta["level"] for p in math} == {4, None}


def test_hub_offline_env_skips_probe(fake_datasets, monkeypatch):
    def boom(timeout=None):
        raise AssertionError("probe must be skipped offline")

    monkeypatch.setattr(hub, "hub_reachable", boom)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert load_benchmark("gsm8k")[0].answer == "6"


def test_hub_unreachable_gives_one_clear_error(fake_datasets, monkeypatch):
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=None: False)
    with pytest.raises(MathsynthError) as exc:
        load_benchmark("gsm8k:train")
    msg = str(exc.value)
    assert "could not be loaded from the Hugging Face hub" in msg
    assert "MATHSYNTH_DATA_DIR" in msg and "gsm8k/train.jsonl" in msg
    assert fake_datasets == []  # datasets was never called


def test_hub_datasets_errors_are_wrapped(monkeypatch, no_data_dir):
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=None: True)
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails
    with pytest.raises(MathsynthError, match="'datasets' package is not importable.*MATHSYNTH_DATA_DIR"):
        load_benchmark("svamp")

    def fail(*a, **k):
        raise ConnectionError("Couldn't reach the hub")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=fail))
    with pytest.raises(MathsynthError, match="ConnectionError: Couldn't reach the hub.*asdiv/asdiv.jsonl"):
        load_benchmark("asdiv")


def test_hub_probe_fails_fast_locally(monkeypatch):
    # the real probe, against endpoints that cannot leave this machine (and no proxy in between)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert _REAL_PROBE(timeout=1) is False
    monkeypatch.setenv("HF_ENDPOINT", "not a url")
    assert _REAL_PROBE(timeout=1) is False
