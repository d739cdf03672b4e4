"""English number words as models write them in final answers: "twelve", "twenty-five", "one
hundred and five", "two thousand". Cardinals only (no "half", "three quarters", "a dozen")."""

from __future__ import annotations

__all__ = ["SCALES", "SMALL", "TENS", "words_number"]

SMALL = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"])}
TENS = {w: 10 * (i + 2) for i, w in enumerate(
    ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])}
SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}


def words_number(words: list[str]) -> tuple[int, int] | None:
    """Leading number words of ``words`` (lower case) as (value, words used), or None.

    >>> words_number(["twenty-five", "apples"]), words_number("one hundred and five".split())
    ((25, 1), (105, 4))
    >>> words_number(["two", "thousand", "dollars"]), words_number(["apples"]) is None
    ((2000, 2), True)
    """
    total, current, used, seen = 0, 0, 0, False
    for i, w in enumerate(words):
        parts = w.split("-")
        if len(parts) == 2 and parts[0] in TENS and parts[1] in SMALL and 0 < SMALL[parts[1]] < 10:
            current += TENS[parts[0]] + SMALL[parts[1]]
        elif w in SMALL:
            current += SMALL[w]
        elif w in TENS:
            current += TENS[w]
        elif w == "hundred" and seen:
            current = max(current, 1) * 100
        elif w in SCALES and seen:
            total += max(current, 1) * SCALES[w]
            current = 0
        elif w == "and" and seen and i + 1 < len(words) and (
                words[i + 1] in SMALL or words[i + 1].split("-")[0] in TENS):
            continue
        else:
            break
        seen, used = True, i + 1
    return (total + current, used) if seen else None
