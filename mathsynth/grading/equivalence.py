"""Answer normalization, exact fast paths, and the math-verify call that runs inside workers.

Everything here is pure string / :class:`fractions.Fraction` work except :func:`mv_equivalent`,
which imports math-verify and is only ever called inside a grading worker process (see
:mod:`mathsynth.grading.pool`): math-verify's own timeouts use ``signal.alarm`` and only work in a
process's main thread, and a runaway sympy computation can only be stopped by killing the process.

Fast paths (decided in the parent, never touching sympy) and how they relate to math-verify:

* **Exact match after light normalization** (:func:`normalize`): removing ``$``, ``\\left``/
  ``\\right``, ``\\displaystyle``, spacing commands, and whitespace that does not separate two
  letters/digits or follows a control word (TeX skips it: ``\\frac 59`` is ``\\frac59``), and
  ``\\dfrac``/``\\tfrac`` -> ``\\frac``. These are display-only in LaTeX, and
  math-verify's own normalizer drops most of them too. Two answers equal after this are rendered
  identically, so they are graded equal. (Differences: math-verify parses ``\\left.3\\right.`` as
  nothing and ``1\\,000`` as ``1*0``; we read them as ``3`` and ``1000``.) Before that, other
  notations of the same value are rewritten (:func:`mathsynth.grading.notation.rewrite`:
  Unicode ``√ ∞ ½ x²``, ``sqrt(2)``, ``1.5e3``, ``1 000``).
* **Plain numbers** (:func:`parse_number`): integers with ``,``/``{,}``/``\\,`` thousands
  separators, decimals, ``a/b`` and ``\\frac{a}{b}``, a leading ``\\$``, a trailing degree sign or
  ``\\text{unit}``. Compared exactly (:mod:`mathsynth.grading.values`): equal values are equal,
  two written decimals are exact values (math-verify rounds both to 6 places and calls
  ``1.0000001`` and ``1.0000002`` equal; we do not), a decimal approximation of a fraction is
  right only when correctly rounded to 6 or more places (``0.333333`` for ``\\frac{1}{3}``, as
  math-verify; ``0.3333331`` is wrong), and a percentage equals its number with or without the
  sign and its fraction (``50\\%`` = ``50`` = ``0.5``).
* **Rational constants** (:mod:`mathsynth.grading.exact`): ``2^{100}``, ``\\frac{1}{2006!}``,
  ``1.5\\times10^{3}`` compared exactly (math-verify's ``evalf(chop=True)`` calls tiny differences
  0); math-verify's "equal" on two constants is re-checked to 60 digits in the worker.
* **Answers in words** (:func:`mathsynth.grading.answers.prose_verdict`): against a plain-number
  gold, ``42 cookies`` is 42, and an answer naming two different values (``42 or 43``) or
  hedging (``at least 40``) is wrong.
* **Choice letters and words**: ``A``-``F`` with or without ``(...)``/``\\text{}``/``\\textbf{}``
  compare by letter, case-insensitively; two ``\\text{...}`` words (2+ letters) compare
  case- and space-insensitively, as math-verify does.
* **Clearly different values** (:func:`mathsynth.grading.numeric.clearly_different`): two
  expressions or lists of them (radicals, ``\\pi``, fractions, single-letter variables evaluated
  at fixed points, ``a \\pm b``, tuples, intervals, sets) whose values are far apart are
  different; equal-looking ones still go to math-verify.
* **Other forms** (:mod:`mathsynth.grading.fastpaths`, where all the fast paths live): number
  bases (``52_8``), equations (``x=5``, ``y=2x+3``, ``x\\in[a,b]``), matrices, unions of
  intervals, and kinds that math-verify never calls equal (a ``\\text{word}`` vs a number).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from functools import lru_cache

from mathsynth.grading.answers import reduce_answer
from mathsynth.grading.fastpaths import fast_verdict, parse_number
from mathsynth.grading.notation import align, rewrite

__all__ = ["answer_key", "fast_verdict", "mv_equivalent", "normalize", "parse_number",
           "prepare_gold", "to_latex_env"]

_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_LEFT_RIGHT_DOT = re.compile(r"\\(?:left|right)\s*\.")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])")
_STYLE = re.compile(r"\\(?:displaystyle|textstyle|scriptstyle)(?![A-Za-z])")
_FRAC_VARIANT = re.compile(r"\\[dt]frac(?![A-Za-z])")
_THIN_THOUSANDS = re.compile(r"(?<=\d)(?:\\,|\{,\})(?=\d{3}(?!\d))")
# "\\\\" (a LaTeX line break) is matched first so its second backslash is never read as "\\ ".
_SPACING = re.compile(r"\\\\|\\(?:[,;: !]|quad(?![A-Za-z])|qquad(?![A-Za-z]))|~")


def _spacing(m: re.Match) -> str:
    tok = m.group()
    return tok if tok == "\\\\" else "" if tok == "\\!" else " "

_WS = re.compile(r"\s+")
_DROP_SPACE = re.compile(r"(?<![A-Za-z0-9]) | (?![A-Za-z0-9])")
# TeX ends a control word at the first non-letter and skips the spaces after it, so "\frac 59"
# is "\frac59" and "\pm 2" is "\pm2"; before a letter the space is needed ("\pi r").
_COMMAND_SPACE = re.compile(r"(?<!\\)(\\[A-Za-z]+) (?![A-Za-z])")


@lru_cache(maxsize=1 << 16)
def _normalize_cached(s: str) -> str:
    s = s.replace("\u2212", "-").replace("\u00a0", " ").replace("\u202f", " ").replace("\u2009", " ")
    s = rewrite(s)
    s = _UNESCAPED_DOLLAR.sub("", s)
    s = _LEFT_RIGHT_DOT.sub("", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _STYLE.sub("", s)
    s = _FRAC_VARIANT.sub(r"\\frac", s)
    s = _THIN_THOUSANDS.sub(",", s)
    s = _SPACING.sub(_spacing, s)
    s = _WS.sub(" ", s).strip()
    s = _DROP_SPACE.sub("", s)
    s = _COMMAND_SPACE.sub(r"\1", s)
    while s.endswith(".") and not s.endswith("\\."):
        s = s[:-1].rstrip()
    return s


def normalize(s: str) -> str:
    """Light, display-only normalization used for exact matching and cache keys.

    Keeps a space only where it separates two letters/digits (``\\pi r``, ``1 000``), so tokens never
    merge.

    >>> normalize(r"$\\left( 3, \\dfrac{\\pi}{2} \\right)$.")
    '(3,\\\\frac{\\\\pi}{2})'
    >>> normalize(r"10\\,000 \\text{ cm}")
    '10,000\\\\text{cm}'
    """
    if len(s) > 4096:  # not worth caching; callers bound lengths before this anyway
        return _normalize_cached.__wrapped__(s)
    return _normalize_cached(s)


_BOXED_WHOLE = re.compile(r"\\(?:boxed|fbox)\s*\{")


def prepare_gold(gold: str) -> str:
    """Normalize a reference answer; accepts GSM8K-style ``... #### 42`` and a whole ``\\boxed{}``.

    >>> prepare_gold("Natalia sold 48/2 = 24 clips in May.\\n#### 72")
    '72'
    >>> prepare_gold(r"\\boxed{\\dfrac{1}{2}}")
    '\\\\frac{1}{2}'
    """
    g = gold.strip()
    if "####" in g:
        g = g.rsplit("####", 1)[1].strip()
    m = _BOXED_WHOLE.match(g)
    if m:
        from mathsynth.latex import match_brace

        close = match_brace(g, m.end() - 1)
        if close == len(g) - 1:
            g = g[m.end():close]
    # the reduction predictions get ("4 \\text{ feet}" is 4), so both sides are read alike
    return normalize(reduce_answer(g.strip()))


_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox|textrm)\{([^{}]*)\}")


@lru_cache(maxsize=1 << 16)  # N samples of one problem repeat the same few answers
def answer_key(pred: str | None) -> str | None:
    """A cheap canonical key: obviously-equal answers share it (for grouping/majority voting).

    >>> {answer_key(x) for x in ["1,000", "1000", "1000.0", "$1000", "\\\\$1{,}000"]}
    {'1000'}
    >>> answer_key("\\\\dfrac{1}{2}"), answer_key("0.5"), answer_key(r"\\text{(B)}"), answer_key(None)
    ('1/2', '1/2', '(B)', None)
    """
    if pred is None:
        return None
    s = normalize(pred)
    num = parse_number(s)
    if num is not None:
        v, _, pct = num
        key = str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
        return key + "%" if pct else key
    return _TEXT_WRAP.sub(r"\1", s)


def to_latex_env(s: str) -> str:
    """Wrap a normalized answer in ``$...$`` so math-verify's LaTeX extractor reads all of it.

    >>> to_latex_env(r"\\frac{1}{2}")
    '$\\\\frac{1}{2}$'
    """
    s = _UNESCAPED_DOLLAR.sub("", s).replace("\n", " ")
    if s.endswith("\\"):
        s += " "
    return "$" + s + "$"


# ---------------------------------------------------------------- worker side (math-verify) ----

_GOLD_CACHE: OrderedDict[str, list] = OrderedDict()
_GOLD_CACHE_MAX = 4096
_CONFIGS: tuple | None = None


def _mv():
    global _CONFIGS
    import math_verify

    if _CONFIGS is None:
        for name in ("math_verify", "latex2sympy2_extended"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        _CONFIGS = (math_verify.LatexExtractionConfig(), math_verify.ExprExtractionConfig())
    return math_verify


def mv_equivalent(gold_n: str, pred_n: str, timeout_s: int = 2) -> bool:
    """math-verify's verdict on two normalized answers (worker processes only; uses SIGALRM).

    The gold parse is cached per worker. ``timeout_s`` bounds each parse and the comparison
    (math-verify's own, signal-based); the parent's kill is the hard bound.
    """
    mv = _mv()
    parsed_gold = _GOLD_CACHE.get(gold_n)
    if parsed_gold is None:
        parsed_gold = mv.parse(to_latex_env(gold_n), extraction_config=_CONFIGS,
                               parsing_timeout=timeout_s)
        _GOLD_CACHE[gold_n] = parsed_gold
        if len(_GOLD_CACHE) > _GOLD_CACHE_MAX:
            _GOLD_CACHE.popitem(last=False)
    else:
        _GOLD_CACHE.move_to_end(gold_n)
    pred_n = align(gold_n, pred_n)  # "x<3" against an interval: the interval it denotes
    parsed_pred = mv.parse(to_latex_env(pred_n), extraction_config=_CONFIGS, parsing_timeout=timeout_s)
    if not mv.verify(parsed_gold, parsed_pred, timeout_seconds=timeout_s):
        return False
    return "%" in gold_n + pred_n or not _values_differ(parsed_gold, parsed_pred)


def _values_differ(parsed_gold: list, parsed_pred: list) -> bool:
    """Whether two constants math-verify called equal have different values after all.

    math-verify compares constants by ``(a - b).evalf(chop=True) == 0``, and chopping calls any
    two tiny values equal (``\\frac{1}{2^{99}}`` and ``\\frac{1}{2^{98}}``, ``e^{-50}`` and
    ``e^{-51}``). Evaluated to 60 digits, two different constants differ relatively by far more
    than ``1e-20``; equal ones by nothing. Skipped where a float is involved: there math-verify's
    6-place rounding is the convention (decimal answers are decided in-process beforehand).
    """
    import sympy

    a = next((x for x in parsed_gold if isinstance(x, sympy.Expr)), None)
    b = next((x for x in parsed_pred if isinstance(x, sympy.Expr)), None)
    try:
        if a is None or b is None or not (a.is_number and b.is_number) or a.atoms(sympy.Float) \
                or b.atoms(sympy.Float):
            return False
        va, vb = sympy.N(a, 60), sympy.N(b, 60)
        if not (va.is_finite and vb.is_finite) or va.as_real_imag()[1] or vb.as_real_imag()[1]:
            return False
        diff = abs(sympy.N(a - b, 60))
        return bool(diff > sympy.Float(10) ** -20 * max(abs(va), abs(vb)))
    except Exception:  # noqa: BLE001 - a failed check keeps math-verify's verdict
        return False
