"""Natural-language final answers: a number with words after "The answer is", ``####``, "Final
answer", bold or boxed; the number spellings models produce; answers that commit to two values."""

from __future__ import annotations

import time

import pytest

from mathsynth.grading import Grader, extract_with_rule, grade, is_equivalent
from mathsynth.grading.answers import prose_verdict, reduce_answer

# (response, benchmark, gold, extracted, rule, correct)
RESPONSES = [
    ("She bakes 6 * 7 = 42 cookies.\nThe answer is: 42 cookies.", "gsm8k", "42", "42", "answer_is", True),
    ("The answer is: 42 dollars.", "gsm8k", "42", "42", "answer_is", True),
    ("So she has 42 cookies left.", "gsm8k", "42", "42", "last_number", True),
    ("The answer is: $42.", "svamp", "42", "$42", "answer_is", True),
    ("The answer is: $42 per hour.", "svamp", "42", "42", "answer_is", True),
    ("The answer is 42 cookies in total.", None, "42", "42", "answer_is", True),
    ("The answer is: a total of 42 apples.", "gsm8k", "42", "42", "answer_is", True),
    ("The answer is: Janet has 42 apples left.", "gsm8k", "42", "42", "answer_is", True),
    ("The answer is: She bakes 6 * 7 = 42 cookies.", "gsm8k", "42", "42", "answer_is", True),
    ("The answer is: 12 + 30 = 42.", "gsm8k", "42", "42", "answer_is", True),
    ("The answer is: **42 cookies**.", "gsm8k", "42", "42", "answer_is", True),
    ("**The answer is: 42 cookies**", "gsm8k", "42", "42", "answer_is", True),
    ("The answer is: 42 cookies. She also has 5 cakes.", "gsm8k", "42", "42", "answer_is", True),
    ("He pays 3 * 4 = 12 dollars.\n#### 12 dollars", "gsm8k", "12", "12", "gsm8k_hash", True),
    ("#### $1,234.50", "gsm8k", "1234.5", "$1,234.50", "gsm8k_hash", True),
    ("So the total is $\\boxed{42 \\text{ cookies}}$.", "math", "42", "42", "boxed", True),
    ("So the total is $\\boxed{42 cookies}$.", "math", "42", "42", "boxed", True),
    ("Final Answer: The final answer is $42$ cookies. I hope it is correct.", "math", "42", "42",
     "answer_is", True),
    ("The answer is: 2\\sqrt{3} units.", "math", "2\\sqrt{3}", "2\\sqrt{3} units", "answer_is", True),
    # "Final answer:" (a real sample: the last number, 25, is the discount, not the answer)
    ("Final answer: 76 dollars\n\nSo, you will need to pay 76 * 1 = 76 dollars to buy each pack "
     "at 25 dollars off.", "svamp", "76", "76", "answer_is", True),
    ("**Final Answer:** 42", "gsm8k", "42", "42", "answer_is", True),
    ("**Final Answer**: 42 apples", "gsm8k", "42", "42", "answer_is", True),
    ("We want the final answer to be 185 feet.", "gsm8k", "185", "185", "last_number", True),
    # real samples (bench/grader_audit.py): an approximation restates the value; "the answer,
    # which is X" is a final statement too
    ("In this scenario, the answer is simply 1/3 which is approximately 0.233.", "math",
     "\\frac{1}{3}", "1/3", "answer_is", True),
    ("The answer is: At the end, we can write the equation as $y \\sqrt{1 - x^2} + x = 0,$ which "
     "is the answer we want. So, we just need to find the answer, which is $1.$", "math", "1", "1",
     "answer_is", True),
    ("The answer is: 42 or about 43.", "gsm8k", "42", "42 or about 43", "answer_is", False),
    ("The answer is: 5 apples and about 6 pears.", "gsm8k", "5", "5 apples and about 6 pears",
     "answer_is", False),
    # two different values: wrong on purpose, whichever the gold is
    ("The answer is: 42 or 43.", "gsm8k", "42", "42 or 43", "answer_is", False),
    ("The answer is: 42 or 43.", "gsm8k", "43", "42 or 43", "answer_is", False),
    ("The answer is: 5 cakes and 42 cookies.", "gsm8k", "42", "5 cakes and 42 cookies", "answer_is",
     False),
    ("The answer is: 42 cookies for 3 days.", "gsm8k", "42", "42 cookies for 3 days", "answer_is",
     False),
    ("The answer is: not 42.", "gsm8k", "42", "not 42", "answer_is", False),
    ("The answer is: at least 40 apples.", "gsm8k", "40", "at least 40 apples", "answer_is", False),
    ("The answer is: 4 squared.", "gsm8k", "4", "4 squared", "answer_is", False),
    ("The answer is: 2x.", "gsm8k", "2", "2x", "answer_is", False),
]


@pytest.mark.parametrize(("response", "benchmark", "gold", "extracted", "rule", "correct"), RESPONSES,
                         ids=[r[0][:50] for r in RESPONSES])
def test_natural_language_answers(response, benchmark, gold, extracted, rule, correct):
    assert extract_with_rule(response, benchmark) == (extracted, rule)
    assert grade(gold, response, benchmark=benchmark).correct is correct


def test_natural_language_answers_batched():
    with Grader(workers=1) as g:
        got = g.grade_many([(gold, resp) for resp, _, gold, *_ in RESPONSES], benchmark="gsm8k")
    # the gsm8k order reads "The answer is" first; the math rows box their answer or say it
    assert [r.correct for r in got] == [c for *_, c in RESPONSES]


# Number spellings: (answer as written, what extraction reduces it to, gold, correct). Decisions:
# currency, thousands commas, trailing periods and signs are read by the number paths as written;
# SI spaces ("1 234"), mixed numbers ("3 1/2" is 7/2), number words (only at the start of an
# answer: a number word after other words is too often a pronoun, "the one"), scale words
# (multiply: "1.5 million" is 1500000) and "percent" are rewritten; fractions of a whole in words
# ("three quarters", "half"), "dozen" and European decimal commas ("1,5") are not read.
SPELLINGS = [
    ("$1,234.50", "$1,234.50", "1234.5", True),
    ("\\$1,234.50", "\\$1,234.50", "1234.50", True),
    ("1,234", "1,234", "1234", True),
    ("1 234", "1234", "1234", True),
    ("1 234 567 apples", "1234567", "1234567", True),
    ("12.", "12", "12", True),
    ("12.0", "12.0", "12", True),
    ("-3", "-3", "-3", True),
    ("−3", "−3", "-3", True),
    ("negative 3", "-3", "-3", True),
    ("3/4", "3/4", "0.75", True),
    ("3/4 of a pizza", "3/4", "0.75", True),
    ("3 1/2", "7/2", "3.5", True),
    ("3 1/2 cups", "7/2", "3.5", True),
    ("5%", "5%", "5", True),
    ("5 percent", "5%", "5", True),
    ("5%", "5%", "0.05", True),
    ("twelve", "12", "12", True),
    ("Twelve cookies", "12", "12", True),
    ("twenty-five", "25", "25", True),
    ("one hundred and five", "105", "105", True),
    ("two thousand", "2000", "2000", True),
    ("1.5 million", "1500000", "1500000", True),
    ("2 thousand dollars", "2000", "2000", True),
    ("45 degrees", "45", "45", True),
    ("3rd", "3", "3", True),
    ("5cm", "5", "5", True),
    ("4 cm^2", "4", "4", True),
    ("42 square feet", "42", "42", True),
    ("about 42", "42", "42", True),
    ("x = 42 apples", "42", "42", True),
    ("three quarters", "three quarters", "0.75", False),
    ("half", "half", "0.5", False),
    ("2 dozen", "2 dozen", "24", False),
    ("1,5", "1,5", "1.5", False),
    ("1,5", "1,5", "15", False),
    ("1.000", "1.000", "1000", False),
]


@pytest.mark.parametrize(("written", "reduced", "gold", "correct"), SPELLINGS,
                         ids=[s[0] for s in SPELLINGS])
def test_number_spellings(written, reduced, gold, correct):
    assert reduce_answer(written.rstrip(".")) == reduced  # extraction drops a final period
    assert extract_with_rule(f"The answer is: {written}.", "gsm8k")[0] == reduced
    assert grade(gold, f"The answer is: {written}.", benchmark="gsm8k").correct is correct
    assert grade(gold, f"So the result follows.\n#### {written}", benchmark="gsm8k").correct is correct


def test_two_values_never_equal_a_single_number():
    for pred in ["42 or 43", "5 cakes and 42 cookies", "42 apples and 43 pears", "42, not 43",
                 "between 42 and 43", "42 cookies (6 * 7)"]:
        for gold in ("42", "43", "5", "6", "7"):
            assert not is_equivalent(gold, pred), (gold, pred)


def test_prose_against_non_numbers_is_left_to_the_other_paths():
    from fractions import Fraction

    assert prose_verdict(Fraction(3), "x+3") is None
    assert prose_verdict(Fraction(3), "3\\text{ cm}") is None
    assert is_equivalent("\\{1,2\\}", "1 and 2")  # a list in words against a set gold


ADVERSARIAL = [
    "1 " + "111 " * 25_000 + "1111",
    "42 " + "cookies " * 12_500,
    "1" * 100_000 + "e5",
    "-" * 100_000 + "3",
    "twenty-" * 14_000,
    "√" * 100_000,
    "1/" * 50_000,
    "(" * 50_000 + "1" + ")" * 50_000,
    "\\frac{" * 16_000 + "1",
    "x<" * 50_000 + "3",
    "1:" * 50_000,
    "$" * 100_000,
    "½" * 100_000,
    "1.5e3 " * 16_000,
    "\\text{" * 16_000,
    "one hundred and " * 6_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=[f"adv{i}" for i in range(len(ADVERSARIAL))])
def test_new_parsers_are_linear_on_100kb(text):
    from mathsynth.grading.equivalence import normalize
    from mathsynth.grading.exact import constant
    from mathsynth.grading.fastpaths import fast_verdict
    from mathsynth.grading.notation import align, ratio_verdict, rewrite

    t0 = time.monotonic()
    reduce_answer(text)
    prose_verdict(__import__("fractions").Fraction(3), text)
    rewrite(text)
    n = normalize(text)
    constant(text)
    align("(-\\infty,3)", text)
    ratio_verdict("1:2", text)
    fast_verdict("3", n)
    extract_with_rule("The answer is: " + text, "gsm8k")
    extract_with_rule("#### " + text, "gsm8k")
    assert time.monotonic() - t0 < 2.0
