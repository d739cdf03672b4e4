"""The offline symbolic generator: deterministic, exact, and safe on real GSM8K seeds."""

import os
import re
import time
from fractions import Fraction

import pytest

from mathsynth.data import Problem
from mathsynth.synth.symbolic import Reject, SymbolicItem, analyze_seed, generate, perturb, verify_solution
from mathsynth.synth.symbolic_expr import find_numbers, format_number, parse_annotation

SEED = Problem(
    id="own/1",
    question="A bakery bakes 45 muffins each morning and sells them in boxes of 5. "
             "Each box costs $7.50. How much money does the bakery make if it sells every box?",
    answer="67.5",
    solution="The bakery fills 45/5 = <<45/5=9>>9 boxes.\n"
             "It makes 9*7.50 = $<<9*7.50=67.5>>67.5.\n#### 67.5",
)
ANN = re.compile(r"<<([^<>\n]*)>>")


def _recheck(item: SymbolicItem) -> None:
    """Re-parse the emitted solution and recompute every annotation; the answer is the last result."""
    assert verify_solution(item.solution) is None, item.solution
    bodies = ANN.findall(item.solution)
    assert len(bodies) == len(item.steps)
    for body, (expr, value) in zip(bodies, item.steps, strict=True):
        ann = parse_annotation(body)
        assert ann.evaluate([lit.value for lit in ann.literals]) == ann.value == Fraction(value)
        assert body == f"{expr}={value}"
    final = item.solution.rsplit("####", 1)[1].strip().replace(",", "")
    assert Fraction(final) == Fraction(item.answer) == Fraction(item.steps[-1][1])


def test_inline_seed_is_deterministic_changed_and_exact():
    plan = analyze_seed(SEED)
    assert plan.ok and set(plan.groups) == {Fraction(45), Fraction(5), Fraction(15, 2)}
    items = [perturb(SEED, i, seed=3) for i in range(5)]
    assert items == [perturb(SEED, i, seed=3) for i in range(5)]
    assert all(isinstance(x, SymbolicItem) for x in items)
    assert [x.id for x in items] == [f"sym/own/1/{i}" for i in range(5)]
    assert len({x.question for x in items}) > 1
    for item in items:
        _recheck(item)
        assert item.seed_id == "own/1" and item.question != SEED.question
        assert item.answer != SEED.answer
        assert re.search(r"\$\d+\.\d\d\b", item.question)  # money keeps its 2-decimal style
        muffins, per_box = (Fraction(n.text) for n in find_numbers(item.question)[:2])
        assert (muffins / per_box).denominator == 1  # whole boxes only


def test_other_seed_changes_results():
    # Compare the questions (numbers), not the items: their ids differ whatever the numbers are.
    def questions(seed):
        return [perturb(SEED, i, seed=seed).question for i in range(5)]

    assert questions(0) == questions(0)
    assert sum(a != b for a, b in zip(questions(0), questions(1), strict=True)) >= 3
    assert len(set(questions(0))) >= 3  # the index changes the numbers too


def test_rejects_when_integrality_cannot_hold():
    # Most resamplings of 96 and 8 do not divide evenly; with a single try per index, such a variant
    # must come back as a Reject, never as an item with fractional stickers.
    p = Problem("own/2", "Tom has 96 stickers and shares them among 8 friends.", "12",
                "Each friend gets 96/8 = <<96/8=12>>12 stickers.\n#### 12")
    out = list(generate([p], per_seed=10, max_tries=1))
    assert any(isinstance(x, Reject) and "fractional" in x.reason for x in out)
    for x in out:
        if isinstance(x, SymbolicItem):
            _recheck(x)


def test_rejects_negative_results():
    p = Problem("own/3", "Mia has 10 apples and eats 9 of them.", "1",
                "She has 10-9 = <<10-9=1>>1 apple left.\n#### 1")
    out = [perturb(p, i, max_tries=1) for i in range(30)]
    assert any(isinstance(x, Reject) and "sign" in x.reason for x in out)
    assert all(int(x.answer) > 0 for x in out if isinstance(x, SymbolicItem))


def test_not_perturbable_reasons():
    no_ann = Problem("n/1", "Sam has 3 cats.", "3", "He has 3 cats.\n#### 3")
    assert analyze_seed(no_ann).reason == "no calculator annotations"
    unmatched = Problem("n/2", "Sam has 3 cats.", "17", "3+14 = <<3+14=17>>17\n#### 17")
    assert "matches nothing" in analyze_seed(unmatched).reason
    ambiguous = Problem("n/3", "Sam has 2 cats and twice as many dogs.", "4", "2*2 = <<2*2=4>>4\n#### 4")
    assert "ambiguous" in analyze_seed(ambiguous).reason
    rounded = Problem("n/4", "Split 10 cakes among 3 kids.", "3.33", "10/3 = <<10/3=3.33>>3.33\n#### 3.33")
    assert "not exact" in analyze_seed(rounded).reason
    assert isinstance(perturb(unmatched, 0), Reject)


def test_percent_and_commas_keep_their_style():
    p = Problem("own/4", "A $1,200 laptop is 25% off. What does it cost now?", "900",
                "The discount is 1200*25/100 = $<<1200*25/100=300>>300.\n"
                "It costs 1200-300 = $<<1200-300=900>>900.\n#### 900")
    item = perturb(p, 0)
    assert isinstance(item, SymbolicItem)
    assert re.search(r"\$\d,\d{3} laptop is \d+% off", item.question), item.question
    _recheck(item)


def test_format_and_parse_helpers():
    assert format_number(Fraction(5, 2), 2) == "2.50"
    assert parse_annotation("(3+4)*2=14").evaluate([Fraction(1), Fraction(1), Fraction(3)]) == 6
    with pytest.raises(ValueError):
        parse_annotation("3**2=9")


@pytest.mark.skipif(not os.environ.get("MATHSYNTH_DATA_DIR"), reason="MATHSYNTH_DATA_DIR not set")
def test_gsm8k_train_first_500():
    from mathsynth.data import load_benchmark

    seeds = load_benchmark("gsm8k", split="train", limit=500)
    share = sum(analyze_seed(p).ok for p in seeds) / len(seeds)
    start = time.perf_counter()
    out = list(generate(seeds, per_seed=2))
    elapsed = time.perf_counter() - start
    items = [x for x in out if isinstance(x, SymbolicItem)]
    print(f"perturbable {share:.1%}, accepted {len(items)}/{len(out)}, {elapsed:.2f}s")
    assert share >= 0.45  # measured 54.8% on these 500 (55.7% on all 7473)
    assert len(items) >= 0.40 * len(out)  # measured 50.0%
    assert elapsed < 10
    assert len({x.id for x in items}) == len(items)
    for item in items:
        _recheck(item)
