"""Sampling metrics for math evaluation: Pass@k, Maj@k and their per-problem estimators.

Everything here is a pure function of per-problem sample verdicts and answer keys; nothing
loads a model or a grader. Aggregation over problems (overall, by level / subject / steps) lives
in :mod:`mathsynth.evaluate.breakdown` (``problem_metrics``, ``compute_metrics``), which builds on
this module.

Both estimators are *exact expectations over the k-subsets* of the N samples drawn for a
problem, so they use all N samples instead of one arbitrary subset of size k:

* :func:`pass_at_k` -- probability that at least one of k samples is correct (Chen et al. 2021).
* :func:`maj_at_k` -- probability that the plurality answer of k samples is correct, with ties
  broken uniformly at random.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

__all__ = ["pass_at_k", "maj_at_k", "ks_for"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased Pass@k estimate from ``c`` correct out of ``n`` samples: ``1 - C(n-c, k) / C(n, k)``.

    Computed in the numerically stable product form ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``.

    >>> pass_at_k(10, 0, 3)
    0.0
    >>> pass_at_k(10, 8, 3)   # fewer than k wrong samples: every k-subset holds a correct one
    1.0
    >>> round(pass_at_k(4, 1, 2), 6)   # 1 - C(3,2)/C(4,2) = 1 - 3/6
    0.5
    >>> pass_at_k(5, 2, 1)             # k = 1 is the plain fraction correct
    0.4
    >>> pass_at_k(3, 1, 4)
    Traceback (most recent call last):
    ...
    ValueError: k=4 must be between 1 and n=3
    """
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"need n >= 1 and 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and n={n}")
    if c == 0:
        return 0.0
    if n - c < k:
        return 1.0
    if k == 1:
        return c / n
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def ks_for(n: int) -> list[int]:
    """The k values reported for ``n`` samples: powers of two up to ``n``, plus ``n`` itself.

    >>> ks_for(1)
    [1]
    >>> ks_for(16)
    [1, 2, 4, 8, 16]
    >>> ks_for(48)
    [1, 2, 4, 8, 16, 32, 48]
    """
    if n < 1:
        raise ValueError(f"need at least one sample, got n={n}")
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    if ks[-1] != n:
        ks.append(n)
    return ks


def _log_binom(logfact: np.ndarray, n: int, r: np.ndarray) -> np.ndarray:
    """log C(n, r) elementwise for an integer array r (entries outside [0, n] give -inf)."""
    out = np.full(r.shape, -np.inf)
    ok = (r >= 0) & (r <= n)
    out[ok] = logfact[n] - logfact[r[ok]] - logfact[n - r[ok]]
    return out


def _log_binom1(logfact: list[float], n: int, r: int) -> float:
    """Scalar log C(n, r) from a list of log-factorials (-inf outside [0, n])."""
    return logfact[n] - logfact[r] - logfact[n - r] if 0 <= r <= n else -math.inf


def _wrong_classes(keys: Sequence[str | None], verdicts: Sequence[bool]) -> tuple[int, list[int], int]:
    """(correct count, wrong class sizes, count of wrong samples without an answer)."""
    if len(keys) != len(verdicts):
        raise ValueError(f"keys ({len(keys)}) and verdicts ({len(verdicts)}) differ in length")
    c = sum(1 for v in verdicts if v)
    wrong = Counter(key for key, v in zip(keys, verdicts, strict=True) if not v and key is not None)
    z = sum(1 for key, v in zip(keys, verdicts, strict=True) if not v and key is None)
    return c, sorted(wrong.values(), reverse=True), z


def _group_poly(logfact: list[float], logc: np.ndarray, a: int, g: int, rows: int, r: int
                ) -> tuple[np.ndarray, float]:
    """``(L(x) + y * coef[a] x^a)^g`` for g identical classes (coef = exp(logc), L = coef[:a]) as
    a scaled (rows, r+1) array over (y-degree = ties, x-degree = draws); returns (array, log scale)."""
    coef = np.exp(logc)
    smax = min(g, rows - 1, r // a)
    powers = {}                                 # p -> (L^p normalised, log of its scale)
    cur, cur_log = np.ones(1), 0.0
    for p in range(g + 1):
        if p >= g - smax:
            powers[p] = (cur, cur_log)
        if p == g:
            break
        if a == 1:
            cur_log += float(logc[0])
        else:
            cur = np.convolve(cur, coef[:a])[: r + 1]
            top = float(cur.max())
            cur, cur_log = cur / top, cur_log + math.log(top)
    logs = [_log_binom1(logfact, g, s) + s * float(logc[a]) + powers[g - s][1] for s in range(smax + 1)]
    top = max(logs)
    out = np.zeros((rows, r + 1))
    for s in range(smax + 1):
        poly = powers[g - s][0][: r + 1 - a * s]
        out[s, a * s : a * s + len(poly)] = math.exp(logs[s] - top) * poly
    return out, top


def _tie_dp(log_rows: dict[int, np.ndarray], lf: list[float], groups: list[tuple[int, int]], a: int, r: int, rows: int
            ) -> tuple[np.ndarray, float]:
    """dp[t, d] * exp(log_scale) = ways to draw d samples from the wrong classes in ``groups``
    ((size, how many classes) pairs) with every class drawn at most ``a`` times and exactly ``t``
    classes drawn ``a`` times. The first group is expanded in closed form, the rest class by class."""
    log_scale = 0.0
    for i, (w, g) in enumerate(groups):
        logs = log_rows[w][: a + 1]             # log C(w, 0..a), increasing while a <= w/2
        shift = float(logs[min(a, w // 2)])
        coef = np.exp(logs - shift)             # coef[b] ~ C(w, b): b < a draws, or a tie at b = a
        log_scale += g * shift
        if i == 0:
            dp, top = _group_poly(lf, logs - shift, a, g, rows, r)
            log_scale += top
            nrows, ncols = min(rows, g + 1), min(r + 1, a * g + 1)   # nonzero block of dp
            continue
        for _ in range(g):
            src, new = dp[:nrows, :ncols], np.zeros_like(dp)
            if nrows < a:                       # few rows, long kernel: convolve row by row
                width = min(r + 1, ncols + a - 1)
                for t in range(nrows):
                    new[t, :width] = np.convolve(src[t], coef[:a])[:width]
            else:                               # many rows, short kernel: shifted adds
                for b in range(a):
                    span = min(ncols, r + 1 - b)
                    new[:nrows, b : b + span] += coef[b] * src[:, :span]
            span, tied = min(ncols, r + 1 - a), min(nrows, rows - 1)
            new[1 : tied + 1, a : a + span] += coef[a] * src[:tied, :span]
            nrows, ncols = min(rows, nrows + 1), min(r + 1, ncols + a)
            top = float(new.max())
            if top == 0.0:                      # everything underflowed: a negligible term
                return new, 0.0
            dp, log_scale = new / top, log_scale + math.log(top)
    return dp, log_scale


def maj_at_k(keys: Sequence[str | None], verdicts: Sequence[bool], k: int) -> float:
    """Exact Maj@k: expected correctness of the plurality vote over a uniform k-subset of samples.

    Voting rules: every correct sample (``verdicts[i]`` true) votes for the single gold class,
    whatever its key; wrong samples vote for their ``keys[i]``; wrong samples with key ``None``
    (no answer) do not vote. A subset where nobody votes scores 0, and a tie between the gold
    class and ``t`` wrong classes scores ``1/(t+1)`` (uniform random tie-break).

    Cost: for each possible number ``a`` of correct samples in the subset only the wrong classes
    of size >= ``a`` can tie or beat gold; they are handled by a small polynomial DP (degree =
    samples drawn, second axis = number of tied classes), and all smaller classes plus the
    non-voters are folded in at once with a Vandermonde binomial. Computation is in float64 with
    log-scaling, so any N works; N=256 takes a few milliseconds per call.

    >>> maj_at_k(["4", "4", "5"], [True, True, False], 1)   # = fraction correct for k=1
    0.6666666666666666
    >>> round(maj_at_k(["4", "5"], [True, False], 2), 12)   # a 1-1 tie is a coin flip
    0.5
    >>> round(maj_at_k(["4", "5", "6"], [True, False, False], 2), 12)   # always a 1-1 tie: 1/2 * 2/3
    0.333333333333
    >>> maj_at_k(["4", None, None], [True, False, False], 3)   # non-voters never outvote gold
    1.0
    >>> maj_at_k(["x", "y", "y"], [False, False, False], 2)
    0.0
    """
    n = len(keys)
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and n={n}")
    c, wrong, _ = _wrong_classes(keys, verdicts)
    if c == 0:
        return 0.0
    if c == n:
        return 1.0
    if k == 1:                                  # a lone sample wins iff it is correct
        return c / n
    m = n - c                                   # wrong samples, voters or not
    logfact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))))
    lf = logfact.tolist()
    log_total = _log_binom1(lf, n, k)
    # a = correct samples in the subset, r = k - a the wrong ones. Gold wins outright when no
    # wrong class can reach a votes (r < a, or a above every class size): sum those in one go.
    a_all = np.arange(max(1, k - m), min(c, k) + 1)
    easy = (k - a_all < a_all) | (a_all > (wrong[0] if wrong else 0))
    a_easy = a_all[easy]
    total = float(np.exp(_log_binom(logfact, c, a_easy) + _log_binom(logfact, m, k - a_easy) - log_total).sum())
    log_rows = {w: logfact[w] - logfact[: w + 1] - logfact[w::-1] for w in set(wrong)}   # log C(w, .)
    for a in a_all[~easy].tolist():
        r = k - a
        big = [w for w in wrong if w >= a]          # classes that can tie (== a) or beat (> a) gold
        pool = m - sum(big)                         # smaller classes + non-voters: unrestricted
        rows = min(len(big), r // a) + 1            # possible numbers of tied classes: 0..rows-1
        groups = sorted(Counter(big).items(), key=lambda wg: -wg[1])
        dp, log_scale = _tie_dp(log_rows, lf, groups, a, r, rows)
        log_pool = _log_binom(logfact, pool, r - np.arange(r + 1))   # choose the rest from the pool
        pmax = float(log_pool.max())
        val = float((1.0 / np.arange(1, rows + 1)) @ dp @ np.exp(log_pool - pmax))
        if val > 0.0:
            total += math.exp(_log_binom1(lf, c, a) - log_total + log_scale + pmax + math.log(val))
    return min(1.0, total)
