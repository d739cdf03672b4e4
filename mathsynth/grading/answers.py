"""Final answers written in words: "42 cookies", "$1,234.50", "twelve", "she bakes 6 * 7 = 42 cookies".

Models end a word problem with a sentence more often than with a bare number. :func:`reduce_answer`
turns such an answer into the one number it commits to, and leaves everything else unchanged:

* a number followed or preceded by words (units, nouns, rates, currency words, a trailing clause):
  ``42 cookies``, ``$42 per hour``, ``a total of 42 apples`` -> ``42``;
* an arithmetic chain counts as its result: ``6 * 7 = 42 cookies`` -> ``42``;
* number spellings: ``$1,234.50``/``1 234``/``12.``/``-3``/``3/4``/``5%`` (kept as the digits
  say), ``3 1/2`` (a mixed number: ``7/2``), ``twelve``/``twenty-five``/``one hundred and five``
  (number words, only at the start of the answer), ``1.5 million`` (scale words multiply),
  ``5 percent`` (``5%``), ``negative 3``/``minus 3`` (``-3``), ``45 degrees`` (``45``), ``3rd``;
* an answer that commits to two different values (``42 or 43``, ``5 cakes and 42 cookies``) is
  left as it is, and :func:`prose_verdict` makes sure it never equals a single number;
* so are answers whose words change or hedge the value: ``4 squared``, ``2 pi``, ``half of 10``,
  ``not 42``, ``at least 40``, ``more than 3``, ``2 dozen``, ``two thirds``; and math (``2x``,
  ``x = 3``, LaTeX other than ``\\text{}``, ``\\$``, ``\\%``, ``\\frac{a}{b}``, ``\\times``).

Pure string and :class:`fractions.Fraction` work; one linear-time token regex, inputs capped in length.
"""

from __future__ import annotations

import re
from fractions import Fraction

from mathsynth.grading.numwords import SCALES as _SCALES
from mathsynth.grading.numwords import SMALL as _SMALL
from mathsynth.grading.numwords import TENS as _TENS
from mathsynth.grading.numwords import words_number

__all__ = ["prose_verdict", "reduce_answer"]

_MAX_LEN = 400
_TOKEN = re.compile(
    r"(?P<num>\d{1,3}(?:(?:,\s?\\!\s?|,|\\,|\{,\})\d{3})+(?![\d,])(?:\.\d+)?"  # 1,234.50 1\,234 1{,}234
    r"|\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?![\d/,.]|\s\d)"  # 1 234 (SI grouping)
    r"|\d+(?:\.\d+)?|\.\d+)"
    r"|(?P<frac>\\[dt]?frac\{(?P<fn>\d{1,9})\}\{(?P<fd>\d{1,9})\}|\\[dt]?frac(?P<fn1>\d)(?P<fd1>\d))"
    r"|(?P<pct>\\?%)"
    r"|(?P<deg>°|\^\\circ|\^\{\\circ\}|\\circ|\\degree)"
    r"|(?P<sup>\^\{?[23]\}?|[²³])"
    r"|(?P<text>\\(?:text|textbf|textrm|mbox|mathrm)\{)"
    r"|(?P<cur>\\\$|[$£€¥])"
    r"|(?P<cmd>\\[A-Za-z]+|\\.)"
    r"|(?P<word>[A-Za-z]+(?:['’][a-z]+)?(?:-[A-Za-z]+)*)"
    r"|(?P<op>[-−+*/×÷·=:^<>≈≤≥])"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.DOTALL,
)
_OPS = {"+", "-", "−", "*", "/", "×", "÷", "·", "\\times", "\\cdot", "\\div"}
_ALLOWED_CMDS = {"\\times", "\\cdot", "\\div", "\\,", "\\ ", "\\;", "\\!", "\\quad", "\\approx"}
_ORDINAL = {"st", "nd", "rd", "th"}
# letters that may stick to a number as a unit ("5cm", "3kg"), if no arithmetic follows; anything
# else ("2x", "2k+2": single letters are variables) is math
_UNITS = {"cm", "mm", "km", "kg", "mg", "lb", "lbs", "oz", "ft", "mph", "kmh", "hr", "hrs", "min",
          "mins", "sec", "secs", "ml", "yd", "yds"}
# words that change the value of the number next to them, or hedge it: never reduced
_VALUE_WORDS = {"pi", "sqrt", "root", "roots", "squared", "cubed", "power", "powers", "factorial",
                "times", "plus", "over", "divided", "half", "halves", "third", "thirds",
                "quarter", "quarters", "fourth", "fourths", "fifth", "fifths", "sixth", "sixths",
                "eighth", "eighths", "tenth", "tenths", "hundredth", "hundredths", "twice",
                "double", "triple", "thrice", "dozen", "dozens", "score", "e", "i", "ln", "log",
                "sin", "cos", "tan", "exp", "infinity", "inf", "infinite", "infinitely", "pm",
                "not", "no", "never", "cannot", "can't", "isn't", "aren't", "wasn't", "won't",
                "impossible", "none", "neither", "nor", "but", "except", "least", "most", "than",
                "under", "below", "above", "nearly", "almost", "between", "until", "unknown",
                "undefined", "maybe", "perhaps", "probably", "either", "range", "ranges", "ratio"}
_SQUARE = {"square", "cube", "cubic"}  # units when a unit word follows ("square feet"), else values


class _Num:
    __slots__ = ("value", "text", "special", "pct")

    def __init__(self, value: Fraction, text: str, special: bool = False):
        self.value, self.text, self.special, self.pct = value, text, special, False


def _scan(s: str) -> list | None:
    """Tokens as a list of ``_Num``, ``("op", x)``, ``("word", w)``; None if ``s`` is math."""
    out: list = []
    stack_text = depth = 0
    units = False
    prev_end, prev_kind = -1, ""
    for m in _TOKEN.finditer(s):
        kind = m.lastgroup
        tok = m.group()
        attached = m.start() == prev_end
        if kind == "num":
            if prev_kind == "num" and attached:
                return None
            if depth and "," in tok:
                return None  # "(6,235)": a tuple, not six thousand
            digits = re.sub(r"\\,|\\!|\{,\}|[, \u00a0\u202f\u2009]", "", tok)
            out.append(_Num(Fraction(digits), digits, special=digits != tok and "," not in tok))
        elif kind == "frac":
            num, den = int(m["fn"] or m["fn1"]), int(m["fd"] or m["fd1"])
            if den == 0:
                return None
            out.append(_Num(Fraction(num, den), f"{num}/{den}"))
        elif kind == "pct":
            if not (out and isinstance(out[-1], _Num)):
                return None
            out[-1].pct = True
        elif kind == "deg":
            if not (out and isinstance(out[-1], _Num)):
                return None
            out[-1].special = True
        elif kind == "sup":  # a unit's power ("cm^2", "m²"); after a number it is math ("3^2")
            if not (out and isinstance(out[-1], tuple) and out[-1][0] == "word"):
                return None
        elif kind == "text":
            stack_text += 1
        elif kind == "cmd":
            if tok in _OPS:
                out.append(("op", "*" if tok != "\\div" else "/"))
            elif tok == "\\approx":
                out.append(("cmd", tok))
            elif tok not in _ALLOWED_CMDS:
                return None
        elif kind == "word":
            low = tok.lower()
            if attached and prev_kind == "num":
                if low in _ORDINAL or tok in _UNITS:
                    out[-1].special = True
                    units = True
                    prev_end, prev_kind = m.end(), "unit"
                    continue
                return None  # "2x": a coefficient
            if prev_kind == "word" and attached:  # cannot happen (words are maximal); be safe
                return None
            out.append(("word", low))
        elif kind == "op":
            out.append(("op", {"−": "-", "×": "*", "·": "*", "÷": "/"}.get(tok, tok)))
        elif kind == "other":
            if tok == "!" and attached and prev_kind == "num":
                return None  # "5!" is a factorial
            if tok in "{}" and stack_text:
                stack_text -= tok == "}"
            elif tok == "{" or tok == "}":
                return None
            elif tok in "()[]":
                depth += 1 if tok in "([" else -1
                out.append(("op", tok))
            elif tok in ",;":
                if depth:
                    return None  # "(4,4)", "[1,2]": tuples and intervals are math
                out.append(("sep", tok))
        elif kind == "cur":
            out.append(("cur", tok))
        if kind != "space":
            prev_end, prev_kind = m.end(), kind
        else:
            prev_end, prev_kind = -1, "space"
    if units and any(x in (("op", "+"), ("op", "-"), ("op", "*"), ("op", "/"), ("op", "="), ("op", "^"))
                     for x in out):
        return None  # "5cm + 2": an expression with a unit letter in it
    return out


def _collapse(items: list) -> list:
    """Numbers joined into values: fractions ``3/4``, mixed ``3 1/2``, scales, signs, percent
    words, then arithmetic chains ``a op b = c`` reduced to ``c``."""
    out: list = []
    i = 0
    while i < len(items):
        it = items[i]
        if isinstance(it, tuple) and it[0] == "op" and it[1] == "/" and out and isinstance(out[-1], _Num) \
                and i + 1 < len(items) and isinstance(items[i + 1], _Num) and "/" not in out[-1].text \
                and items[i + 1].value and items[i + 1].value.denominator == 1 and \
                out[-1].value.denominator == 1:
            a, b = out.pop(), items[i + 1]
            frac = _Num(a.value / b.value, f"{a.text}/{b.text}")
            frac.pct = b.pct
            if out and isinstance(out[-1], _Num) and out[-1].value.denominator == 1 \
                    and "." not in out[-1].text and 0 < a.value < b.value and not out[-1].pct:
                whole = out.pop()  # "3 1/2": a mixed number
                v = whole.value + frac.value
                frac = _Num(v, f"{v.numerator}/{v.denominator}", special=True)
            out.append(frac)
            i += 2
            continue
        if isinstance(it, tuple) and it[0] == "word" and out and isinstance(out[-1], _Num):
            if it[1] in _SCALES and not out[-1].pct:
                n = out[-1]
                n.value *= _SCALES[it[1]]
                n.text, n.special = _fmt(n.value), True
                i += 1
                continue
            if it[1] in ("percent", "pct"):
                out[-1].pct = out[-1].special = True
                i += 1
                continue
            if it[1] in ("degrees", "degree"):
                out[-1].special = True
        out.append(it)
        i += 1
    # signs: "-3" at the start or after a word / "(" / "=" (not after a number: "10 - 3")
    signed: list = []
    for it in out:
        if isinstance(it, _Num) and signed and signed[-1] == ("op", "-") and (
                len(signed) == 1 or not isinstance(signed[-2], _Num)):
            signed.pop()
            it.value, it.text = -it.value, "-" + it.text
        elif isinstance(it, _Num) and signed and signed[-1] in (("word", "negative"), ("word", "minus")):
            signed.pop()
            it.value, it.text, it.special = -it.value, "-" + it.text, True
        signed.append(it)
    return _chains(signed)


def _chains(items: list) -> list:
    """``6 * 7 = 42`` -> ``42``: a run of numbers and operators that ends with ``= N``."""
    out: list = []
    i = 0
    while i < len(items):
        j, nums, eq = i, 0, -1
        while j < len(items) and (isinstance(items[j], _Num) or items[j] in (
                ("op", "+"), ("op", "-"), ("op", "*"), ("op", "/"), ("op", "("), ("op", ")"),
                ("op", "="), ("cur", "$"), ("cur", "\\$"))):
            nums += isinstance(items[j], _Num)
            if items[j] == ("op", "="):
                eq = j
            j += 1
        if eq > i and nums >= 2 and j > eq + 1 and isinstance(items[j - 1], _Num):
            out.append(items[j - 1])
            i = j
        else:
            out.append(items[i])
            i += 1
    return out


_APPROX = {("word", w) for w in ("approximately", "approx", "about", "roughly", "around")} | {
    ("op", "≈"), ("cmd", "\\approx")}
_CONNECT = {("sep", ","), ("word", "which"), ("word", "is"), ("word", "that"), ("word", "equals")}


def _drop_approximations(items: list) -> list:
    """``1/3, which is approximately 0.333``: a number right after a value and an approximation
    word only restates that value (even when the decimal is off): the answer is the first value.
    ``42 or about 43`` and ``5 apples and about 6 pears`` name two values and are kept."""
    out: list = []
    since: list | None = None  # items since the last number (None before the first one)
    skip = False
    for it in items:
        if isinstance(it, _Num):
            if skip:
                skip = False
                continue
            since = []
        elif it in _APPROX and since is not None and all(x in _CONNECT for x in since):
            skip = True
            continue
        elif since is not None:
            since.append(it)
        out.append(it)
    return out


def _fmt(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def _commitment(s: str) -> tuple[str, _Num | None]:
    """("one", number), ("many", None) for two different values, ("hedged", None), ("math", None)."""
    if len(s) > _MAX_LEN:
        return "math", None
    items = _scan(s.replace("\u2212", "-"))
    if items is None:
        return "math", None
    words = [w for k, w in (x for x in items if isinstance(x, tuple)) if k == "word"]
    nums = [x for x in items if isinstance(x, _Num)]
    if not nums and words:
        got = words_number(words)
        lead = next((i for i, x in enumerate(items) if isinstance(x, tuple) and x[0] == "word"), None)
        if got is None or lead is None or any(x[0] != "cur" for x in items[:lead]):
            return ("hedged" if set(words) & _VALUE_WORDS else "math"), None
        value, used = got
        rest = words[used:]
        if rest and rest[0] in ("of", "more", "less", "fewer", "other", "another"):
            return "hedged", None  # "one of them", "two more than"
        n = _Num(Fraction(value), str(value), special=True)
        items = [n] + [("word", w) for w in rest]
        words, nums = rest, [n]
    if any(w in _VALUE_WORDS for w in words):
        return "hedged", None
    for i, x in enumerate(items):
        if x in (("word", w) for w in _SQUARE):
            nxt = items[i + 1] if i + 1 < len(items) else None
            if not (isinstance(nxt, tuple) and nxt[0] == "word" and nxt[1] not in ("of", "root")):
                return "hedged", None
    if not nums:
        return "math", None
    before = len(nums)
    items = _drop_approximations(_collapse(items))
    nums = [x for x in items if isinstance(x, _Num)]
    # number words beside digits are values too ("42 cookies for two days"); "one" is too often
    # a pronoun ("each one") to count
    worded = [words_number([w]) for w in words if w != "one" and (
        w in _SMALL or w in _TENS or w.split("-")[0] in _TENS)]
    nums += [_Num(Fraction(v[0]), str(v[0])) for v in worded if v]
    if any(x in (("op", "^"), ("op", "<"), ("op", ">"), ("op", "≤"), ("op", "≥")) for x in items) or any(
            b == ("op", ":") and isinstance(a, _Num) and isinstance(c, _Num)
            for a, b, c in zip(items, items[1:], items[2:], strict=False)):
        return "math", None  # powers, inequalities, ratios "1:1"
    values = {(n.value, n.pct) for n in nums}
    if len(values) > 1 or (len(nums) > 1 and any(x[0] == "sep" for x in items if isinstance(x, tuple))):
        return "many", None  # two values, or one value listed twice ("2, 2"; "18, -18" is two)
    words_left = any(isinstance(x, tuple) and x[0] == "word" and len(x[1]) >= 2 for x in items)
    letters = any(isinstance(x, tuple) and x[0] == "word" for x in items)
    if letters and not words_left:
        return "math", None  # "x = 3", "3 x": a single letter is a variable
    first = nums[0]
    first.special = first.special or words_left or len(nums) > 1 or len(nums) < before
    return "one", first


_TEXT_WHOLE = re.compile(r"\s*\\(?:text|textbf|textrm|mbox|mathrm)\{")


def _closes_at_end(s: str, open_pos: int) -> bool:
    depth = 0
    for i in range(open_pos, len(s)):
        ch = s[i]
        if ch == "\\":
            continue
        if ch in "{}" and (i == 0 or s[i - 1] != "\\"):
            depth += 1 if ch == "{" else -1
            if depth == 0:
                return not s[i + 1:].strip(" .")
    return False


def reduce_answer(ans: str) -> str:
    """The number a natural-language final answer commits to, else ``ans`` unchanged.

    >>> [reduce_answer(a) for a in ["42 cookies", "$42 per hour", "She bakes 6 * 7 = 42 cookies"]]
    ['42', '42', '42']
    >>> [reduce_answer(a) for a in ["1 234", "3 1/2 cups", "twenty-five", "1.5 million", "5 percent"]]
    ['1234', '7/2', '25', '1500000', '5%']
    >>> [reduce_answer(a) for a in ["42", "$1,234.50", "3/4", "42 or 43", "2 pi", "not 42", "2x"]]
    ['42', '$1,234.50', '3/4', '42 or 43', '2 pi', 'not 42', '2x']
    """
    if _TEXT_WHOLE.match(ans) and _closes_at_end(ans, ans.index("{")):
        return ans  # "\\text{June 20}", "\\text{two lines}": a text answer, compared as text
    kind, num = _commitment(ans)
    if kind != "one" or num is None or not num.special:
        return ans
    text = num.text.replace(",", "")
    return text + "%" if num.pct else text


def prose_verdict(gold_value: Fraction, pred_n: str) -> bool | None:
    """Verdict for a prediction written in words against a plain-number gold, or None if ``pred_n``
    is no prose. Prose that commits to one number is compared by value; prose that names two
    different values, or hedges (``not 42``, ``at least 40``), is wrong.

    >>> prose_verdict(Fraction(42), "42 cookies"), prose_verdict(Fraction(42), "42 or 43")
    (True, False)
    >>> prose_verdict(Fraction(42), "at least 42"), prose_verdict(Fraction(42), "x+1") is None
    (False, True)
    """
    if not re.search(r"(?<![\\A-Za-z])[A-Za-z]{2,}", pred_n):
        return None
    if re.search(r"\\(?:text|mbox|textrm|textbf|mathrm)\{", pred_n) and not re.search(
            r"(?<![\\{A-Za-z])[A-Za-z]{2,}", re.sub(r"\\[a-z]+\{[^{}]*\}", "", pred_n)):
        return None  # "5\\text{cm}": a unit in LaTeX, the number paths read it
    kind, num = _commitment(pred_n)
    if kind == "one" and num is not None and not num.pct:
        return num.value == gold_value
    if kind in ("many", "hedged"):
        return False
    return None
