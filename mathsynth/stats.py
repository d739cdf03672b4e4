"""Uncertainty for every number mathsynth prints: intervals, paired tests, a bootstrap slope.

Base layer (pure numpy/math, knows no stage), so evaluation, studies and the report share one
implementation. Conventions:

* A proportion of independent 0/1 outcomes (greedy Pass@1, Pass@N: one value per problem) gets a
  **Wilson** score interval, which keeps its coverage near 95% at small n and near 0% or 100%, where
  the normal ("Wald") interval collapses to a point.
* A mean of per-problem values that are themselves averages of N samples (PassRatio@N, pass@k, maj@k)
  gets a **percentile bootstrap over problems**: problems are the unit that was sampled from the
  benchmark, and samples of one problem are correlated, so resampling samples would be too narrow.
* Two runs on the same problems are compared **per problem** (paired): a paired bootstrap of the
  per-problem differences (interval and p-value), and for 0/1 outcomes McNemar's exact test on the
  discordant problems. A paired comparison is much tighter than two independent intervals because
  most problems are right (or wrong) under both runs.

Every bootstrap is seeded (default seed 0, 2,000 resamples) so the same inputs give the same
interval on every machine. Intervals are ``(lo, hi)`` in the units of the values (fractions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["BOOTSTRAP_RESAMPLES", "Z95", "bootstrap_means", "detectable_difference", "mcnemar_exact", "percentile_interval",
           "paired_compare", "slope_bootstrap", "step_accuracy_fit", "wilson"]

Z95 = 1.959963984540054
#: Resamples per bootstrap: the interval ends move by ~0.1 of a standard error between seeds.
BOOTSTRAP_RESAMPLES = 2000
#: z_{0.975} + z_{0.80}: a true difference of this many standard errors is found 80% of the time.
_MDE_Z = Z95 + 0.8416212335729143


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials.

    >>> [round(x, 4) for x in wilson(0, 10)]
    [0.0, 0.2775]
    >>> [round(x, 4) for x in wilson(50, 100)]
    [0.4038, 0.5962]
    >>> wilson(0, 0)
    Traceback (most recent call last):
    ...
    ValueError: wilson: need n >= 1 and 0 <= k <= n, got k=0, n=0
    """
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"wilson: need n >= 1 and 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at k = 0 (k = n) the bound is exactly 0 (1); computed, it is off by a rounding error
    return 0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half)


def _weights(n: int, resamples: int, seed: int):
    """Bootstrap resamples as count vectors (each row sums to n), in chunks to bound memory."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, 4_000_000 // max(1, n)))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.float64)
        done += b


def bootstrap_means(values: np.ndarray | Sequence, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
                    ) -> np.ndarray:
    """Bootstrap distribution of column means: ``values`` is (problems,) or (problems, columns);
    returns (resamples,) or (resamples, columns). Every column uses the same resamples, so columns
    that are different metrics (or different runs) of the same problems stay paired.

    >>> d = bootstrap_means([0.0, 1.0] * 50, resamples=500)
    >>> d.shape, 0.35 < float(np.percentile(d, 2.5)) < 0.5 < float(np.percentile(d, 97.5)) < 0.65
    ((500,), True)
    """
    v = np.asarray(values, dtype=np.float64)
    flat = v.ndim == 1
    v2 = v[:, None] if flat else v
    n = v2.shape[0]
    if n < 1:
        raise ValueError("bootstrap_means: no values")
    out = np.concatenate([w @ v2 / n for w in _weights(n, resamples, seed)])
    return out[:, 0] if flat else out


def percentile_interval(dist: np.ndarray) -> tuple[float, float]:
    """The central 95% of a bootstrap distribution.

    >>> percentile_interval(np.arange(1001) / 1000)
    (0.025, 0.975)
    """
    lo, hi = np.percentile(dist, [2.5, 97.5])
    return float(lo), float(hi)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: under no difference, each discordant problem is equally likely
    to favour either run, so ``a_only`` ~ Binomial(a_only + b_only, 1/2).

    >>> mcnemar_exact(0, 0), round(mcnemar_exact(2, 8), 4), round(mcnemar_exact(10, 30), 5)
    (1.0, 0.1094, 0.00222)
    """
    m = a_only + b_only
    if m == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2.0 ** m
    return min(1.0, 2.0 * tail)


def detectable_difference(se: float) -> float:
    """The smallest true difference found with 80% power at the 5% level, given its standard error.

    >>> round(detectable_difference(0.01), 4)
    0.028
    """
    return _MDE_Z * se


def paired_compare(a: Sequence[float], b: Sequence[float], *, binary: bool = False,
                   resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict:
    """Compare two runs on the same problems (``a[i]`` and ``b[i]`` are the same problem's values).

    Returns ``diff`` = mean(b) - mean(a), a paired-bootstrap ``ci95`` and ``p_value`` (two-sided: how
    often a resampled difference lies as far from the observed one as the observed one lies from 0),
    the standard error and the detectable difference (``mde``, 80% power). With ``binary`` (0/1
    values, e.g. greedy Pass@1) the p-value is McNemar's exact test and the discordant counts
    ``a_only`` / ``b_only`` are included.

    >>> r = paired_compare([1, 0, 1, 0] * 25, [1, 0, 1, 0] * 25, binary=True)
    >>> r["diff"], r["p_value"], r["test"]
    (0.0, 1.0, 'mcnemar-exact')
    >>> r = paired_compare([0] * 100, [1] * 30 + [0] * 70, binary=True)
    >>> round(r["diff"], 2), r["p_value"] < 1e-6, r["a_only"], r["b_only"]
    (0.3, True, 0, 30)
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or not len(x):
        raise ValueError(f"paired_compare: need two equally long non-empty vectors, got {x.shape} and {y.shape}")
    d = y - x
    diff = float(d.mean())
    dist = bootstrap_means(d, resamples, seed)
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
    out = {"diff": diff, "ci95": list(percentile_interval(dist)), "se": se,
           "mde": detectable_difference(se), "n_problems": int(len(d))}
    if binary:
        a_only, b_only = int(((x > 0.5) & (y < 0.5)).sum()), int(((x < 0.5) & (y > 0.5)).sum())
        out.update(test="mcnemar-exact", p_value=mcnemar_exact(a_only, b_only), a_only=a_only, b_only=b_only)
    else:
        extreme = np.abs(dist - diff) >= abs(diff) - 1e-12
        out.update(test="paired-bootstrap", p_value=float(max(extreme.mean(), 1.0 / resamples)) if diff else 1.0)
    return out


def _ols_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slopes of each row of ``y`` (..., len(x)) against ``x``."""
    xc = x - x.mean()
    return (y - y.mean(axis=-1, keepdims=True)) @ xc / float(xc @ xc)


def slope_bootstrap(sizes: Sequence[float], values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                    seed: int = 0) -> dict:
    """Slope of mean accuracy against log2(data size), with an interval that resamples *problems*
    jointly across all sizes (the same problems are evaluated at every size, so their difficulty is
    shared noise, not independent noise per point).

    ``values`` is (problems, sizes): each problem's value at each size. Returns the slope per
    doubling and per 10x (``slope`` = per 10x, as in :func:`mathsynth.scale.summary.fit_log_linear`),
    their intervals, a two-sided bootstrap p-value for "slope = 0", and ``r2`` of the fit to the
    means (None when the means are all equal, where R² is undefined).

    >>> rng = np.random.default_rng(1)
    >>> sizes = [250, 500, 1000, 2000]
    >>> p = np.array([0.10, 0.13, 0.16, 0.19])            # +3 points per doubling
    >>> v = (rng.random((2000, 1)) < p).astype(float)      # one shared draw: nested correctness
    >>> f = slope_bootstrap(sizes, v)
    >>> round(f["slope_per_doubling"], 2), f["slope_per_doubling_ci95"][0] > 0, f["p_value"] < 0.01
    (0.03, True, True)
    """
    v = np.asarray(values, dtype=np.float64)
    x = np.log2(np.asarray(sizes, dtype=np.float64))
    if v.ndim != 2 or v.shape[1] != len(x) or len(set(x.tolist())) < 2:
        raise ValueError("slope_bootstrap: need (problems, sizes) values and at least two distinct sizes")
    means = v.mean(axis=0)
    slope = float(_ols_slopes(x, means))
    dist = _ols_slopes(x, bootstrap_means(v, resamples, seed))
    lo, hi = percentile_interval(dist)
    extreme = np.abs(dist - slope) >= abs(slope) - 1e-12
    pred = means.mean() + slope * (x - x.mean())
    ss_tot = float(((means - means.mean()) ** 2).sum())
    r2 = None if ss_tot <= 1e-15 else 1.0 - float(((means - pred) ** 2).sum()) / ss_tot
    per10 = math.log2(10)
    return {"slope_per_doubling": slope, "slope_per_doubling_ci95": [lo, hi],
            "slope": slope * per10, "slope_ci95": [lo * per10, hi * per10],
            "intercept": float(means.mean() - slope * x.mean()), "r2": r2,
            "p_value": float(max(extreme.mean(), 1.0 / resamples)) if slope else 1.0,
            "method": "bootstrap over problems, joint across sizes", "resamples": resamples, "seed": seed}


def _step_loglik(a: np.ndarray, s: np.ndarray, right: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """Binomial log-likelihood of Acc = a**s for each row of ``a`` (B,) over step groups (B, S)."""
    la = np.log(np.clip(a, 1e-300, 1.0))[:, None]
    p = np.exp(la * s[None, :])
    return (right * la * s[None, :] + wrong * np.log(np.clip(1.0 - p, 1e-300, 1.0))).sum(axis=1)


def _step_mle(s: np.ndarray, right: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """Maximise the likelihood in ``a`` for each row by golden-section search (it is unimodal)."""
    b = right.shape[0]
    lo, hi = np.full(b, 1e-9), np.ones(b)
    g = (math.sqrt(5) - 1) / 2
    for _ in range(70):
        m1, m2 = hi - g * (hi - lo), lo + g * (hi - lo)
        better1 = _step_loglik(m1, s, right, wrong) >= _step_loglik(m2, s, right, wrong)
        hi = np.where(better1, m2, hi)
        lo = np.where(better1, lo, m1)
    return (lo + hi) / 2


def step_accuracy_fit(steps: Sequence[int], correct: Sequence[int], samples: Sequence[int],
                      resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict | None:
    """The paper's step law Acc_final = Acc_step ** s by binomial maximum likelihood over problems.

    Each problem contributes ``correct[i]`` successes out of ``samples[i]`` with success probability
    ``a ** steps[i]``; ``a`` maximises that likelihood. The interval is a bootstrap over problems
    (samples of one problem are correlated, so a likelihood interval would be too narrow). Returns
    None when nothing is correct (the likelihood is maximal at a = 0: no estimate, never "0%") or when
    no problem has a step count >= 1.

    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(1, 6, size=3000)
    >>> c = rng.binomial(4, 0.9 ** s)
    >>> f = step_accuracy_fit(s, c, [4] * 3000, resamples=300)
    >>> round(f["acc_step"], 2), f["ci95"][0] < 0.9 < f["ci95"][1]
    (0.9, True)
    >>> step_accuracy_fit([1, 2], [0, 0], [4, 4]) is None
    True
    """
    st = np.asarray(steps, dtype=np.int64)
    c = np.asarray(correct, dtype=np.float64)
    n = np.asarray(samples, dtype=np.float64)
    keep = st >= 1
    st, c, n = st[keep], c[keep], n[keep]
    if not len(st) or c.sum() <= 0:
        return None
    groups = np.unique(st)
    onehot = (st[:, None] == groups[None, :]).astype(np.float64)      # (problems, step groups)
    sf = groups.astype(np.float64)
    right, wrong = (c[:, None] * onehot), ((n - c)[:, None] * onehot)
    a_hat = float(_step_mle(sf, right.sum(0)[None, :], wrong.sum(0)[None, :])[0])
    both = np.concatenate((right, wrong), axis=1)                       # resample problems jointly
    dist = bootstrap_means(both, resamples, seed) * len(st)
    k = len(groups)
    boot = _step_mle(sf, dist[:, :k], dist[:, k:])
    boot = boot[dist[:, :k].sum(axis=1) > 0]                            # resamples with no success: no estimate
    ci = list(percentile_interval(boot)) if len(boot) else None
    return {"acc_step": a_hat, "ci95": ci, "method": "binomial-mle", "problems": int(len(st)),
            "resamples": resamples, "seed": seed}
