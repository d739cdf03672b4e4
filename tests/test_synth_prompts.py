"""The teacher prompt registry and user template files."""

import pytest

from mathsynth.errors import InputError, MathsynthError
from mathsynth.synth.prompts import PROMPTS, get_prompt, list_prompts, load_prompt_file

MODES = ["question-verify", "question-plain", "add-constraint", "change-numbers", "change-background",
         "change-numbers-background", "rephrase"]


def test_registry_names():
    names = set(list_prompts())
    for style in ("gsm8k", "math"):
        assert f"answer/{style}" in names
        for mode in MODES:
            assert f"{mode}/{style}" in names
    assert names == set(PROMPTS)
    assert list_prompts(kind="question", style="math") == sorted(f"{m}/math" for m in MODES)


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_every_prompt_renders_braces_safely(name):
    p = PROMPTS[name]
    q = "Let {x} = \\frac{1}{2} and {{y}}; what is {question}?"
    msgs = p.render(q)
    assert msgs[-1]["role"] == "user" and q in msgs[-1]["content"]
    assert msgs[-1]["content"].count(q) == 1
    assert p.name == name and p.style == name.split("/")[1]
    if p.system:
        assert msgs[0] == {"role": "system", "content": p.system}


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_prompt_sections_match_parser(name):
    text = PROMPTS[name].render("Q")[-1]["content"]
    if name.startswith("answer/"):
        assert "SOLUTION:" in text and "FINAL ANSWER:" in text
    elif name.startswith("question-plain/"):
        assert "CREATED QUESTION:" in text and "FINAL CREATED QUESTION:" not in text
    else:
        for header in ("CREATED QUESTION:", "VERIFICATION AND MODIFICATION:", "FINAL CREATED QUESTION:"):
            assert header in text


def test_style_specific_rules():
    assert "\\boxed{}" in get_prompt("answer/math").render("q")[-1]["content"]
    assert "one number" in get_prompt("answer/gsm8k").render("q")[-1]["content"]
    assert "single number" in get_prompt("question-verify/gsm8k").render("q")[-1]["content"]
    assert "expression" in get_prompt("question-verify/math").render("q")[-1]["content"]
    texts = {get_prompt(f"{m}/gsm8k").template for m in MODES}
    assert len(texts) == len(MODES)  # each strategy asks for a different change


def test_unknown_prompt_lists_names():
    with pytest.raises(MathsynthError, match="unknown synthesis prompt 'nope'.*answer/gsm8k"):
        get_prompt("nope")


def test_user_template_file(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("Invent a harder one: {question}\nKeep {{sets}} intact.", encoding="utf-8")
    p = load_prompt_file(f, "question", "gsm8k")
    assert p.render("a {b}")[-1]["content"] == "Invent a harder one: a {b}\nKeep {sets} intact."


@pytest.mark.parametrize("content,match", [
    ("No placeholder here.", "no {question} placeholder"),
    ("Unbalanced { {question}", "unbalanced braces"),
    ("Closing } only {question}", "unbalanced braces"),
    ("{question} and {other}", "unknown placeholder"),
    ("{question} and {}", "unknown placeholder"),
])
def test_user_template_errors_name_the_file(tmp_path, content, match):
    f = tmp_path / "bad_template.txt"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=match) as e:
        load_prompt_file(f, "question", "math")
    assert "bad_template.txt" in str(e.value)


def test_user_template_missing_file_and_bad_kind(tmp_path):
    with pytest.raises(InputError, match="missing.txt"):
        load_prompt_file(tmp_path / "missing.txt", "answer", "math")
    f = tmp_path / "t.txt"
    f.write_text("{question}", encoding="utf-8")
    with pytest.raises(MathsynthError, match="kind"):
        load_prompt_file(f, "essay", "math")
    with pytest.raises(MathsynthError, match="style"):
        load_prompt_file(f, "answer", "aime")
