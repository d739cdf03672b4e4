"""Tables (gold, prediction, expected) for the fast paths of mathsynth.grading.fastpaths.

Each row must be decided in-process (no math-verify call) with the expected verdict, and
math-verify run on the same normalized pair must agree, except in MATH_VERIFY_WRONG.
"""

from __future__ import annotations

import pytest

from mathsynth.grading import Grader
from mathsynth.grading.equivalence import fast_verdict, mv_equivalent, normalize, prepare_gold

DECIDED = {
    "number_bases": [  # math-verify reads 52_8 as 52
        ("52_8", "52", True), ("52_8", "52_{8}", True), ("52_8", "42", False),
        ("52_8", "92_8", False), ("52_8", "-52_8", False), ("2516_8", "2519_8", False),
        ("4210_{5}", "4280_{5}", False), ("40_9", "121", False), ("1", "40_9", False),
        ("1011_2", "11", False), ("52_{10}", "52", True),
    ],
    "equations": [
        ("x=5", "5", True), ("5", "x=5", True), ("x=5", "x=8", False), ("x=5", "81", False),
        ("13", "x=5", False), ("y=2x+3", "y=2x+4", False), ("y=2x+3", "y=9x+3", False),
        ("y=2x+3", "2x+3", True), ("y=-2x", "y=-7x", False), ("X=5", "5", True),
        ("x=\\frac{1}{2}", "0.5", True), ("y=2x", "2x", True), ("5", "2x=10", False),
        ("2x+3y=6", "6", False), ("x\\in[-2,7]", "x\\in[-2,0]", False),
        ("x\\in[-2,7]", "2", False), ("x\\in[-2,7]", "0", False),
    ],
    "text_words_and_choices": [
        ("\\text{Evelyn}", "Evelyn", True), ("\\text{Evelyn}", "Evelin", False),
        ("\\text{east}", "East", True), ("\\text{east}", "360", False),
        ("\\text{Navin}", "4.95", False), ("14", "\\text{Evelyn}", False),
        ("\\text{ellipse}", "\\text{(B)}", False), ("\\text{Bob}", "B", False),
        ("\\text{(C)}", "-\\sqrt{3}", False), ("90^\\circ", "\\text{(C)}", False),
        ("\\text{(E)}", "\\begin{pmatrix}-1/3\\\\2/3\\end{pmatrix}", False),
        ("\\text{odd}", "even", False), ("\\text{even}", "2", False),
    ],
    "complex_numbers": [  # "i" is a plain symbol to math-verify 0.9
        ("6-5i", "-6-5i", False), ("6+9i", "6+7i", False), ("1+274i", "1", False),
        ("1-12i", "y=2x+3", False), ("\\frac{1+i}{2}", "\\frac{1-i}{2}", False),
        ("i^2", "-1", False), ("144", "-2+7i", False),
    ],
    "matrices": [
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{bmatrix}1\\\\2\\end{bmatrix}", True),
        ("\\begin{pmatrix}1/2\\\\2\\end{pmatrix}", "\\begin{pmatrix}0.5\\\\2\\end{pmatrix}", True),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\3\\end{pmatrix}", False),
        ("\\begin{pmatrix}-1&0\\\\0&-1\\end{pmatrix}", "\\begin{pmatrix}-1&8\\\\0&-1\\end{pmatrix}",
         False),
        ("\\begin{pmatrix}1\\\\2\\\\3\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", False),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "(1,3)", False),  # "(1,2)": the same vector, see
        # tests/test_grading_notations.py (math-verify never matches a matrix with a tuple)
        ("-\\frac{\\pi}{6}", "\\begin{pmatrix}1/5\\\\-18/5\\end{pmatrix}", False),
        ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "x+1", False),
    ],
    "unions_and_empty_intervals": [
        ("(0,9)\\cup(9,36)", "(7,9)\\cup(9,36)", False), ("(0,9)\\cup(9,36)", "(0,36)", False),
        ("(-\\infty,2)\\cup(3,\\infty)", "(-\\infty,2)\\cup(1,\\infty)", False),
        ("(-\\infty,2)\\cup(3,\\infty)", "(-\\infty,2]\\cup(3,\\infty)", False),
        ("-1", "(-\\infty,2)\\cup(3,\\infty)", False), ("(1,2)\\cup(3,4)", "1,2,3,4", False),
        ("(2,12)\\cup(12,102)", "x^5-x^4+x^3-x^2+x-1", False), ("(3,4]", "(3,0]", False),
    ],
    "degrees_units_and_division_by_zero": [
        ("30^\\circ", "8\\pi", False), ("55^\\circ", "(\\frac{3}{2},-13)", False),
        ("15x-80", "15\\mbox{cm}^2", False), ("\\frac{270}7\\text{degrees}", "90", False),
        ("\\frac{270}7\\text{degrees}", "\\frac{270}{7}", True),
        ("864\\mbox{inches}^2", "864\\mbox{inches}^7", True),  # math-verify drops any unit power
        ("\\frac{3}{2}", "\\frac{3}{0}", False), ("0", "\\frac{0}{0}", False), ("\\frac{3\\sqrt{3}}{4}", "-\\frac{3\\sqrt{3}}{0}", False),
    ],
    "lists_spacing_capitals": [
        ("1,-2", "-2,1", True), ("3,5,7", "7,5,3", True), ("1,2", "1,3", False),
        ("\\frac 59", "\\frac59", True), ("3\\pm 2\\sqrt{2}", "3\\pm2\\sqrt{2}", True),
        ("3R^2", "-3R^2", False), ("3R^2", "7R^2", False), ("3R^2", "90^\\circ", False),
    ],
}
TABLE = [(c, g, p, e) for c, rows in DECIDED.items() for g, p, e in rows]


@pytest.mark.parametrize(("category", "gold", "pred", "expected"), TABLE,
                         ids=[f"{c}:{g}|{p}" for c, g, p, _ in TABLE])
def test_fast_path_decides_like_math_verify(category, gold, pred, expected):
    key = (prepare_gold(gold), normalize(pred))
    assert fast_verdict(*key) is expected
    assert mv_equivalent(*key, 5) is expected


# math-verify drops a number's base subscript, so it compares the digits: wrong when the bases
# differ. The fast path compares values instead.
MATH_VERIFY_WRONG = [
    ("204_5", "204_8", False, True),  # 54 vs 132
    ("4343_6", "4343_7", False, True),
    ("101_2", "5_{10}", True, False),  # both five
    ("52_8", "52_9", False, True),
]


@pytest.mark.parametrize(("gold", "pred", "expected", "math_verify"), MATH_VERIFY_WRONG)
def test_different_bases_are_compared_by_value(gold, pred, expected, math_verify):
    key = (prepare_gold(gold), normalize(pred))
    assert fast_verdict(*key) is expected
    assert mv_equivalent(*key, 5) is math_verify


# Near misses and unsafe forms: no verdict in-process, math-verify decides.
DEFERRED = [
    ("\\text{Iowa}", "Iowa", False),  # bare "I" is the imaginary unit to math-verify
    ("\\text{pi}", "3.14159265", True),  # \text{pi} is the constant pi
    ("\\text{xy}", "x\\cdot y", True),  # a product of symbols matches a word
    ("E", "e^{1}", True),  # a bare E is Euler's number
    ("(1,3)\\cup[3,4)", "(1,4)", True), ("(1,2)\\cup(3,4)", "(3,4)\\cup(1,2)", True),
    ("2x+3y=6", "3y+2x=6", True), ("x=5", "y=5", False), ("\\cot x", "-\\cot x", False),
    ("2I", "2i", False),
]


@pytest.mark.parametrize(("gold", "pred", "expected"), DEFERRED)
def test_fast_path_defers_when_unsure(gold, pred, expected):
    key = (prepare_gold(gold), normalize(pred))
    assert fast_verdict(*key) is None
    assert mv_equivalent(*key, 5) is expected


def test_grader_needs_no_worker_for_decided_forms():
    with Grader(workers=1) as g:
        assert g.equivalent_many([(gold, pred) for _, gold, pred, _ in TABLE]) == \
            [e for *_, e in TABLE]
        assert g.stats["worker_calls"] == 0
