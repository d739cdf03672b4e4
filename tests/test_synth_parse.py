"""Parsing recorded teacher replies (tests/fixtures/teacher/*.txt), in the exact format and drifted."""

import time
from pathlib import Path

import pytest

from mathsynth.synth.parse import MAX_INPUT_CHARS, parse_answer, parse_question

FIX = Path(__file__).parent / "fixtures" / "teacher"


def read(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


# fixture, verify mode, expected question (or None), expected reject (or None), expected changed
QUESTION_CASES = [
    ("q_exact.txt", True, "A farmer plants a third of 81 trees in the spring and the rest in the fall. "
     "How many trees does he plant in the fall?", None, True),
    ("q_exact_unchanged.txt", True,
     "Mia reads 12 pages a day for 5 days. How many pages does she read in total?",
     None, False),
    ("q_markdown.txt", True, "Leo buys 4 boxes of 6 crayons and gives away 5 crayons. How many crayons does "
     "he keep?", None, False),
    ("q_hash_headers.txt", True, "A tank holds 120 liters and leaks 8 liters per hour. After how many hours "
     "is it empty?", None, False),
    ("q_lowercase_dash.txt", True, "A bus carries 45 people and 17 get off at the first stop. How many "
     "people "
     "remain on the bus?", None, False),  # only the case differs
    ("q_renamed.txt", True, "Sara has 3 times as many stickers as Ben, who has 14 stickers. How many "
     "stickers does Sara have?", None, True),
    ("q_code_fence.txt", True, "A recipe needs 3 eggs per cake. How many eggs are needed for 7 cakes?", None,
     False),
    ("q_missing_final_compliant.txt", True,
     "A shop sells pens at $2 each. How much do 9 pens cost in dollars?",
     None, False),
    ("q_missing_final_modified.txt", True, None, "no final question", None),
    ("q_leak.txt", True, None, "solution in question", True),  # the final added a line
    ("q_leak_hash.txt", True, None, "solution in question", None),
    ("q_multi.txt", True, None, "multiple questions", False),
    ("q_multi_and_what.txt", True, None, "multiple questions", None),
    ("q_no_header.txt", False, None, "no header found", None),
    ("q_math_boxed_leak.txt", True, None, "solution in question", True),
    ("q_math_braces.txt", True, "Let $f(x) = \\frac{x+1}{x-1}$. Compute $f(3)$.", None, True),
    ("q_plain.txt", False, "A garden has 9 rows with 11 tulips in each row. How many tulips are there in the "
     "garden?", None, None),
    ("q_exact.txt", False, "A farmer plants a third of 80 trees in the spring and the rest in the fall. "
     "How many trees does he plant in the fall?", None, None),  # plain mode reads the draft
]


@pytest.mark.parametrize("name,verify,question,reject,changed", QUESTION_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in QUESTION_CASES])
def test_parse_question_fixtures(name, verify, question, reject, changed):
    p = parse_question(read(name), verify)
    assert p.question == question
    assert p.reject == reject
    assert p.changed is changed
    assert (p.question is None) == (p.reject is not None)


def test_verification_text_is_kept():
    p = parse_question(read("q_exact.txt"), True)
    assert "81" in p.verification and "CREATED" not in p.verification


@pytest.mark.parametrize("text,reject", [
    ("", "empty"), ("   \n\t", "empty"),
    ("FINAL CREATED QUESTION:\n", "no final question"),
    ("FINAL QUESTION:\nHow many?", "question too short"),
    ("FINAL QUESTION:\nWhat is 2+3? The answer is 5.", "solution in question"),
    ("FINAL QUESTION:\nBen has 4 pens.\nAnswer: 4", "solution in question"),
])
def test_parse_question_rejects(text, reject):
    assert parse_question(text, True).reject == reject


def test_question_length_bounds_are_configurable():
    text = "NEW QUESTION: " + "Ann has 3 red pens and 4 blue pens. " * 5 + "How many pens does she have?"
    assert parse_question(text, False).question
    assert parse_question(text, False, max_chars=50).reject == "question too long"
    assert parse_question("NEW QUESTION: 2+2?", False, min_chars=3).question == "2+2?"


@pytest.mark.parametrize("header", [
    "**FINAL CREATED QUESTION:**", "### Final created question", "Final Created Question -",
    "FINAL QUESTION:",
    "final created question:", "3. Final Created Question:", "> **Final created question**",
    "Final created question (revised):", "FINAL_CREATED_QUESTION:",
])
def test_header_drift(header):
    q = "A box has 6 rows of 4 eggs. How many eggs are in the box?"
    text = f"Here you go.\n{header}\n{q}\n\nHope this helps!"
    assert parse_question(text, True).question == q


def test_trailing_chatter_and_quotes_removed():
    text = ('FINAL CREATED QUESTION: "Kim saves $5 a week for 8 weeks. How many dollars does she save?"\n'
            "This question meets all the principles.\nLet me know if you need more.")
    expected = "Kim saves $5 a week for 8 weeks. How many dollars does she save?"
    assert parse_question(text, True).question == expected


def test_one_question_mark_with_earlier_paragraph():
    q = "A class has 30 students.\n\nIf 2/3 of them walk to school, how many students walk?"
    assert parse_question("NEW PROBLEM:\n" + q, False).question == q


# fixture, style, expected answer, expected reject
ANSWER_CASES = [
    ("a_exact_gsm8k.txt", "gsm8k", "64", None),
    ("a_markdown_gsm8k.txt", "gsm8k", "1350", None),
    ("a_no_final_gsm8k.txt", "gsm8k", "600", None),
    ("a_range_gsm8k.txt", "gsm8k", None, "not a single number"),
    ("a_words_gsm8k.txt", "gsm8k", None, "not a single number"),
    ("a_exact_math.txt", "math", "5", None),
    ("a_fraction_math.txt", "math", "\\frac{5}{6}", None),
    ("a_no_final_math.txt", "math", "3", None),
    ("a_two_boxes_math.txt", "math", None, "multiple different boxed answers"),
    ("a_prose_math.txt", "math", None, "not a single expression"),
    ("a_nothing.txt", "math", None, "no final answer"),
    ("a_exact_math.txt", "gsm8k", "5", None),
]


@pytest.mark.parametrize("name,style,answer,reject", ANSWER_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in ANSWER_CASES])
def test_parse_answer_fixtures(name, style, answer, reject):
    p = parse_answer(read(name), style)
    assert (p.answer, p.reject) == (answer, reject)


def test_no_marker_no_guess():
    assert parse_answer("He walks 3 km, then 4 km more, so 7 km", "gsm8k").reject == "no final answer"
    assert parse_answer("He walks 3 + 4 = 7 km.\n#### 7", "gsm8k").answer == "7"


def test_solution_section():
    p = parse_answer(read("a_exact_gsm8k.txt"), "gsm8k")
    assert p.solution.startswith("Each box holds 12") and p.solution.endswith("64 cookies.")
    p = parse_answer(read("a_fraction_math.txt"), "math")
    assert p.solution.startswith("We have") and "Final" not in p.solution


@pytest.mark.parametrize("final,answer", [
    ("42", "42"), ("$1,234.", "1234"), ("\\$18", "18"), ("-7", "-7"), ("3.50 dollars", "3.5"), ("25%", "25"),
    ("x = 12", "12"), ("**9**", "9"), ("$\\boxed{16}$", "16"), ("0.5", "0.5"), ("3/4", "3/4"),
    ("The answer is 8 apples.", "8"), ("12 km/h", "12"),
    ("5 or 6", None), ("5-6", None), ("between 5 and 6", None), ("five", None), ("1,2", None), ("", None),
    ("5 apples and 3 pears", None),
])
def test_gsm8k_number_normalisation(final, answer):
    assert parse_answer(f"SOLUTION:\nwork\nFINAL ANSWER: {final}\n", "gsm8k").answer == answer


@pytest.mark.parametrize("final,answer", [
    ("$\\frac{1}{2}$", "\\frac{1}{2}"), ("\\boxed{x^2+1}", "x^2+1"), ("$(2, 3]$.", "(2, 3]"),
    ("\\boxed{12\\text{ cm}}", "12\\text{ cm}"), ("$x = 3$ or $x = 4$", None),
])
def test_math_answers(final, answer):
    assert parse_answer(f"SOLUTION:\nwork\nFINAL ANSWER:\n{final}\n", "math").answer == answer


def test_math_same_box_twice_is_fine():
    text = "SOLUTION:\nso $\\boxed{7}$.\nFINAL ANSWER:\n$\\boxed{ 7 }$"
    assert parse_answer(text, "math").answer == "7"


def test_answer_empty_and_bad_style():
    assert parse_answer("", "gsm8k").reject == "empty"
    with pytest.raises(ValueError):
        parse_answer("x", "aime")


@pytest.mark.parametrize("junk", [
    "x" * 1_000_000, "*" * (MAX_INPUT_CHARS - 1), "FINAL ANSWER:" + " " * 19_000 + "x",
    "\\boxed{" * 2500, "\\boxed{" * 2000 + "}" * 2000, "#" * 19_999, "FINAL ANSWER: 1" + ",000" * 4000,
    ("**" + " " * 50) * 300, "FINAL QUESTION" + "-" * 19_000,
])
def test_hostile_inputs_are_fast(junk):
    start = time.perf_counter()
    q = parse_question(junk, True)
    a = parse_answer(junk, "math")
    b = parse_answer(junk, "gsm8k")
    assert time.perf_counter() - start < 2.0
    assert q.question is None and q.reject
    if len(junk) > MAX_INPUT_CHARS:
        assert q.reject == a.reject == b.reject == "too long"
