"""Intervals, paired tests, the bootstrap slope and the step-accuracy fit, against brute force and
simulated data with a known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mathsynth.evaluate.breakdown import compute_metrics
from mathsynth.stats import (
    bootstrap_means,
    mcnemar_exact,
    paired_compare,
    percentile_interval,
    slope_bootstrap,
    step_accuracy_fit,
    wilson,
)


@pytest.mark.parametrize("k,n,lo,hi", [
    # reference values of the Wilson score interval (z = 1.96), e.g. Newcombe 1998 table I
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0),
])
def test_wilson_known_values(k, n, lo, hi):
    a, b = wilson(k, n)
    assert a == pytest.approx(lo, abs=6e-4) and b == pytest.approx(hi, abs=6e-4)


@pytest.mark.parametrize("p,n", [(0.03, 100), (0.2, 40), (0.5, 1000)])
def test_wilson_coverage_on_simulated_data(p, n):
    rng = np.random.default_rng(7)
    ks = rng.binomial(n, p, size=4000)
    cover = np.mean([lo <= p <= hi for lo, hi in (wilson(int(k), n) for k in ks)])
    assert 0.925 <= cover <= 0.985, cover


def test_bootstrap_interval_covers_the_truth_about_95_percent():
    # problems differ in difficulty (beta distributed), each answered N = 4 times: the mean pass ratio
    # over a benchmark of 200 problems, repeated for 150 benchmarks drawn from the same population
    rng = np.random.default_rng(3)
    truth, hits = 0.3, 0
    for rep in range(150):
        p = rng.beta(0.6, 1.4, size=200)           # population mean 0.3
        ratio = rng.binomial(4, p) / 4
        lo, hi = percentile_interval(bootstrap_means(ratio, resamples=400, seed=rep))
        hits += lo <= truth <= hi
    assert 0.88 <= hits / 150 <= 0.99, hits


def test_bootstrap_is_reproducible_and_paired_across_columns():
    v = np.random.default_rng(0).random((50, 2))
    a, b = bootstrap_means(v, 300, seed=5), bootstrap_means(v, 300, seed=5)
    assert np.array_equal(a, b)
    same = bootstrap_means(np.stack([v[:, 0], v[:, 0]], axis=1), 300)
    assert np.array_equal(same[:, 0], same[:, 1])


@pytest.mark.parametrize("a_only,b_only", [(0, 0), (1, 0), (3, 9), (12, 30), (50, 51), (0, 25)])
def test_mcnemar_matches_brute_force(a_only, b_only):
    m = a_only + b_only
    if m == 0:
        assert mcnemar_exact(0, 0) == 1.0
        return
    probs = [math.comb(m, i) / 2 ** m for i in range(m + 1)]
    observed = probs[a_only]
    brute = sum(q for q in probs if q <= observed + 1e-15)   # two-sided: outcomes at most as likely
    assert mcnemar_exact(a_only, b_only) == pytest.approx(min(1.0, brute), rel=1e-9)


def test_paired_compare_finds_a_planted_difference_and_not_a_missing_one():
    rng = np.random.default_rng(11)
    base = (rng.random(1000) < 0.10).astype(float)
    better = base.copy()
    flip = rng.choice(np.flatnonzero(base == 0), 40, replace=False)   # +4 points, nothing lost
    better[flip] = 1
    r = paired_compare(base, better, binary=True)
    assert r["diff"] == pytest.approx(0.04) and r["b_only"] == 40 and r["a_only"] == 0
    assert r["p_value"] < 1e-9 and r["ci95"][0] > 0
    same = paired_compare(base, base, binary=True)
    assert same["diff"] == 0 and same["p_value"] == 1.0 and same["ci95"] == [0.0, 0.0]
    # two independent draws of one model differ only by noise: not significant, interval covers 0
    noisy = [paired_compare(rng.binomial(4, 0.2, 300) / 4, rng.binomial(4, 0.2, 300) / 4, seed=i)
             for i in range(40)]
    assert sum(c["p_value"] < 0.05 for c in noisy) <= 6
    assert sum(c["ci95"][0] <= 0 <= c["ci95"][1] for c in noisy) >= 34


def test_slope_recovers_a_planted_trend_and_reports_none_for_a_flat_one():
    rng = np.random.default_rng(2)
    sizes = [250, 500, 1000, 2000, 4000]
    ability = rng.random((1318, 1))
    planted = ability < np.array([0.10, 0.12, 0.14, 0.16, 0.18])   # +2 points per doubling, nested
    f = slope_bootstrap(sizes, planted.astype(float))
    assert f["slope_per_doubling"] == pytest.approx(0.02, abs=0.006)
    assert f["slope_per_doubling_ci95"][0] > 0 and f["p_value"] < 0.01
    assert f["slope"] == pytest.approx(f["slope_per_doubling"] * math.log2(10))
    flat = slope_bootstrap(sizes, np.repeat(ability < 0.1, 5, axis=1).astype(float))
    assert flat["slope_per_doubling"] == 0 and flat["r2"] is None and flat["p_value"] == 1.0


@pytest.mark.parametrize("acc_step", [0.5, 0.8, 0.95])
def test_step_fit_recovers_planted_acc_step(acc_step):
    rng = np.random.default_rng(int(acc_step * 100))
    steps = rng.integers(1, 8, size=2000)
    correct = rng.binomial(4, acc_step ** steps)
    f = step_accuracy_fit(steps, correct, [4] * 2000, resamples=300)
    assert f["acc_step"] == pytest.approx(acc_step, abs=0.02)
    # one draw of a 95% interval may miss by a hair; a miss by more than 1 point would be a bug
    assert f["ci95"][0] - 0.01 <= acc_step <= f["ci95"][1] + 0.01 and f["ci95"][0] < f["acc_step"] < f["ci95"][1]


def test_step_fit_is_null_when_nothing_is_correct_and_positive_otherwise():
    assert step_accuracy_fit([1, 2, 3], [0, 0, 0], [4, 4, 4]) is None
    # the old least-squares fit gave 0.0 here: one correct sample on a 1-step problem out of many
    f = step_accuracy_fit([1, 3, 3, 5, 5], [1, 0, 0, 0, 0], [4, 4, 4, 4, 4], resamples=200)
    assert f is not None and f["acc_step"] > 0.05


def _record(i, steps, verdicts, greedy=None, reasons=None):
    comps = ["The answer is: 1."] * len(verdicts)
    return {"id": str(i), "meta": {"steps": steps}, "verdicts": verdicts, "completions": comps,
            "extracted": ["1"] * len(verdicts), "keys": ["1"] * len(verdicts),
            "finish_reasons": reasons or ["stop"] * len(verdicts),
            "greedy": None if greedy is None else {"verdict": greedy, "extracted": "1", "finish_reason": "stop"}}


def test_metrics_carry_intervals_small_cells_and_a_step_fit():
    recs = [_record(i, 1 + i % 3, [i % 5 == 0, False], greedy=i % 4 == 0) for i in range(120)]
    recs.append(_record(999, 9, [False, False], greedy=False, reasons=["length", "stop"]))
    m = compute_metrics(recs)
    o = m["overall"]
    for key in ("pass@1", "pass@N", "pass_ratio@N"):
        lo, hi = o["ci95"][key]
        assert lo <= o[key] <= hi and hi - lo > 0
    assert set(o["ci95"]["pass@k"]) == {"1", "2"} and set(o["ci95"]["maj@k"]) == {"1", "2"}
    assert o["pass@1_source"] == "greedy" and o["ci_method"]["pass@1"] == "wilson"
    assert o["ci95"]["pass@1"] == list(wilson(30, 121))
    assert m["by_steps"]["9"]["small_cell"] and not o["small_cell"]
    assert o["truncated_rate"] == pytest.approx(1 / 242)
    assert o["errors"]["truncated"] == pytest.approx(1 / 242)
    assert m["step_fit"]["acc_step"] > 0 and m["step_fit"]["method"] == "binomial-mle"
    assert compute_metrics(recs) == m        # seeded: the same records give the same intervals
