"""Answer extraction: one table per rule, plus rule ordering per benchmark family."""

from __future__ import annotations

import pytest

from mathsynth.errors import MathsynthError
from mathsynth.grading import (
    BENCHMARK_RULES,
    DEFAULT_RULES,
    extract_answer,
    extract_with_rule,
    rules_for,
)
from mathsynth.grading.extract import find_boxed, match_brace

ANSWER_IS = [
    ("The answer is: 42", "42"),
    ("The answer is: 42.", "42"),
    ("the answer is 42", "42"),
    ("THE ANSWER IS:   -3.5 ", "-3.5"),
    ("So the answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("The answer is: $\\boxed{7}$.", "7"),
    ("The answer is \\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
    ("The answer is 5. This is because 2+3=5.", "5"),
    ("The answer is 4. Wait, no. The answer is 6.", "6"),  # last occurrence
    ("The answer is:\n\n18", "18"),
    ("Final Answer: The final answer is $12$. I hope it is correct.", "12"),
    ("**The answer is: 3.14**", "3.14"),
    ("The answer is \\(x^2+1\\).", "x^2+1"),
    ("The answer is: $\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}$", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
    ("The answer is: \\text{(C)}", "\\text{(C)}"),
    ("The answer is .5", ".5"),
    ("The answer is 5!", "5!"),
    ("The answer is: $1,000$.", "1,000"),
]


@pytest.mark.parametrize(("response", "expected"), ANSWER_IS)
def test_answer_is(response, expected):
    assert extract_with_rule(response, rules=["answer_is"]) == (expected, "answer_is")


GSM8K_HASH = [
    ("Natalia sold 48/2 = 24 clips.\n#### 72", "72"),
    ("#### 1,234", "1,234"),
    ("#### -5\n", "-5"),
    ("#### 3 \n#### 4", "4"),
    ("####$18.50", "$18.50"),
]


@pytest.mark.parametrize(("response", "expected"), GSM8K_HASH)
def test_gsm8k_hash(response, expected):
    assert extract_with_rule(response, rules=["gsm8k_hash"]) == (expected, "gsm8k_hash")


BOXED = [
    ("so $\\boxed{5}$.", "5"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}"),
    ("first \\boxed{1} then \\boxed{2}", "2"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),  # escaped braces are literal
    ("\\fbox{17}", "17"),
    ("\\boxed 5$", "5"),
    ("\\boxed{\\boxed{3}+1}", "\\boxed{3}+1"),  # outermost box wins
    ("\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}",
     "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
    ("\\boxed { 12 }", "12"),
    ("\\boxed{\\text{(B)}}", "\\text{(B)}"),
    ("\\boxed{" + "{" * 50 + "x" + "}" * 50 + "}", "{" * 50 + "x" + "}" * 50),
]


@pytest.mark.parametrize(("response", "expected"), BOXED)
def test_boxed(response, expected):
    assert extract_with_rule(response, rules=["boxed"]) == (expected, "boxed")


LAST_NUMBER = [
    ("There are 12 apples and 5 pears, so 17", "17"),
    ("It costs 1,234 dollars", "1234"),
    ("The total is 12,345,678.", "12345678"),
    ("temperature -5 degrees", "-5"),
    ("about 3.75.", "3.75"),
    ("a ratio of 3/4", "3/4"),
    ("only .5 left", ".5"),
    ("x-3 and then 10-4", "4"),  # a minus between operands is not a sign
    ("values 1,2,3", "3"),  # a list, not thousands
    ("12 eggs.", "12"),
]


@pytest.mark.parametrize(("response", "expected"), LAST_NUMBER)
def test_last_number(response, expected):
    assert extract_with_rule(response, rules=["last_number"]) == (expected, "last_number")


NO_ANSWER = [
    ("", ["answer_is", "gsm8k_hash", "boxed", "last_number"]),
    ("no numbers at all", ["last_number"]),
    ("The answer is", ["answer_is"]),
    ("The answer is: .", ["answer_is"]),
    ("\\boxed{}", ["boxed"]),
    ("####", ["gsm8k_hash"]),
]


@pytest.mark.parametrize(("response", "rules"), NO_ANSWER)
def test_no_answer(response, rules):
    assert extract_with_rule(response, rules=rules) == (None, None)


ORDER = [
    # (response, benchmark, expected answer, expected rule)
    ("We get \\boxed{3}. The answer is 4", "math", "3", "boxed"),
    ("We get \\boxed{3}. The answer is 4", "MATH500", "3", "boxed"),
    ("We get \\boxed{3}. The answer is 4", "gsm8k", "4", "answer_is"),
    ("We get \\boxed{3}. The answer is 4", None, "4", "answer_is"),
    ("2 + 2 = 4\n#### 4", "gsm8k", "4", "gsm8k_hash"),
    ("so it is 9", "math", "9", "last_number"),
    ("so it is 9", "gsm8k", "9", "last_number"),
    # a response cut off inside its final \boxed{ is not rescued by a fallback rule
    ("so 1+1=2 and \\boxed{\\frac{3", "math", None, None),
    ("The answer is $\\boxed{", "gsm8k", None, None),
    # an earlier complete box and a later unclosed one: truncated
    ("\\boxed{1} ... \\boxed{2", "math", None, None),
    # unclosed box followed by a complete one: the complete one is the answer
    ("\\boxed{ draft ... \\boxed{5}", "math", "5", "boxed"),
]


@pytest.mark.parametrize(("response", "benchmark", "answer", "rule"), ORDER)
def test_rule_order(response, benchmark, answer, rule):
    assert extract_with_rule(response, benchmark=benchmark) == (answer, rule)
    assert extract_answer(response, benchmark=benchmark) == answer


def test_rules_override_and_validation():
    text = "We get \\boxed{3}. The answer is 4"
    assert extract_with_rule(text, benchmark="math", rules=["answer_is"]) == ("4", "answer_is")
    assert extract_with_rule(text, rules="boxed") == ("3", "boxed")
    with pytest.raises(MathsynthError, match="unknown extraction rule"):
        extract_with_rule(text, rules=["nope"])


@pytest.mark.parametrize(("name", "family"), [
    ("math", "math"), ("MATH-500", "math"), ("minerva_math", "math"), ("aime24", "math"),
    ("gsm8k", "gsm8k"), ("GSM-Hard", "gsm8k"), ("svamp", "gsm8k"),
])
def test_benchmark_families(name, family):
    assert rules_for(name) == BENCHMARK_RULES[family]


def test_default_rules():
    assert rules_for(None) == DEFAULT_RULES == rules_for("something-else")


def test_brace_matcher():
    s = "{a{b}c\\}d}e"
    assert match_brace(s, 0) == len(s) - 2
    assert match_brace("{\\\\}", 0) == 3  # "\\\\" is a line break, then a real closing brace
    assert match_brace("{{", 0) is None
    with pytest.raises(ValueError):
        match_brace("abc", 0)
    assert find_boxed("nothing") is None
