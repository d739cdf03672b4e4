"""Replay the grader audit (bench/grader_audit.py) on its fixture of real model samples: every
disagreement with math-verify or lm-eval's GSM8K rules is judged, and none is open."""

from __future__ import annotations

import importlib.util
from collections import Counter

import pytest

from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "grader_audit.jsonl.gz"
if not FIXTURE.exists():  # the audit's samples are recorded once by bench/grader_audit.py (work in progress)
    pytest.skip(f"grader audit fixture {FIXTURE.name} not recorded yet (run bench/grader_audit.py)",
                allow_module_level=True)


def _audit_module():
    spec = importlib.util.spec_from_file_location("grader_audit", REPO / "bench" / "grader_audit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="module")
def audit():
    return _audit_module()


@pytest.fixture(scope="module")
def rows(audit):
    return audit.load(FIXTURE)


def test_fixture_is_real_and_compact(rows):
    assert FIXTURE.stat().st_size < 1_500_000
    problems = Counter(r["benchmark"] for r in rows)
    per_problem = Counter(r["id"].rsplit("#", 1)[0] for r in rows)
    assert problems["svamp"] >= 4 * 300 and problems["math500"] >= 4 * 200
    assert set(per_problem.values()) == {4}
    for r in rows:
        assert set(r) >= {"id", "benchmark", "gold", "response", "finish_reason", "mv", "mv_extracted"}
        assert r["finish_reason"] in ("stop", "length")


def test_no_open_disagreement_group(audit, rows):
    lines: list[str] = []
    summary = audit.audit([dict(r) for r in rows], workers=2, out=lines.append)
    unjudged = [ln for ln in lines if "right: unjudged" in ln]
    assert not unjudged, "\n".join(unjudged)
    assert summary["open"] == 0, "\n".join(ln for ln in lines if "(OPEN)" in ln)
    assert summary["line"].endswith("open disagreement groups 0")


def test_lm_eval_rules_as_documented(audit):
    # lm-evaluation-harness gsm8k.yaml: strict takes the first "#### N", flexible the last number,
    # exact_match drops ",", "$", "... #### " and a final "." and ignores case
    assert audit.lm_eval_strict("a\n#### 1,000\n#### 2") == "1,000"
    assert audit.lm_eval_flexible("6 * 7 = 42 cookies.") == "42"
    assert audit.lm_eval_flexible("costs $5.") == "$5."
    assert audit.lm_eval_match("$1,000.", "1000") and not audit.lm_eval_match("42.0", "42")
