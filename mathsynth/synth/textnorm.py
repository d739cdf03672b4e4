"""Text normalisation shared by near-duplicate removal and decontamination: one normal form of a
question, and its numbers masked or listed (so number variants can be told apart or matched)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["mask_numbers", "normalize_text", "number_key"]

_DROP = re.compile(r"[,;:!?\"'`\u2018\u2019\u201c\u201d]|\.(?!\d)|(?<!\w)-(?!\d)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SPACE = re.compile(r"\s+")


_NUMBER = re.compile(r"(?<![\w.])[-$]*\d+(?:\.\d+)?%?(?![\w])")


def mask_numbers(norm: str) -> str:
    """A normalized text with every number replaced by ``#`` (for matching number variants).

    >>> mask_numbers(normalize_text("He buys a house for $80,000 and puts in $50,000 (25%)."))
    'he buys a house for # and puts in # (#)'
    """
    return _NUMBER.sub("#", norm)


def number_key(norm: str) -> str:
    """The numbers of a normalized text, in order: two texts that differ only in numbers differ here.

    >>> number_key(normalize_text("Tom has 3 apples and $1,250.50")), number_key("no numbers")
    ('3 $1250.50', '')
    """
    return " ".join(_NUMBER.findall(norm))


def normalize_text(text: str) -> str:
    """Lowercase, NFKC, drop sentence punctuation, keep math symbols, collapse whitespace.

    Kept: letters, digits, decimal points (``3.5``), ``+ - * / = ^ < > ( ) [ ] { } \\ $ %``; removed:
    ``, ; : ! ? " '``, sentence periods and thousands separators (``1,000`` -> ``1000``).

    >>> normalize_text("  Tom's  2 apples cost $1,250.50, i.e. 3/4 of x^2!  ")
    'toms 2 apples cost $1250.50 i e 3/4 of x^2'
    """
    s = unicodedata.normalize("NFKC", text).lower()
    s = _THOUSANDS.sub("", s)
    s = _DROP.sub(lambda m: "" if m.group(0) in "'\u2019" else " ", s)
    return _SPACE.sub(" ", s).strip()
