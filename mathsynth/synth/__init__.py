"""Synthetic training data: teacher prompts (:mod:`.prompts`), reading teacher replies (:mod:`.parse`)
and symbolic problem generation (:mod:`.symbolic`).

>>> from mathsynth.synth import get_prompt, parse_answer
>>> get_prompt("answer/gsm8k").style
'gsm8k'
"""

from mathsynth.synth.parse import ParsedAnswer, ParsedQuestion, parse_answer, parse_question
from mathsynth.synth.prompts import PROMPTS, SynthPrompt, get_prompt, list_prompts, load_prompt_file

__all__ = [
    "PROMPTS",
    "ParsedAnswer",
    "ParsedQuestion",
    "SynthPrompt",
    "get_prompt",
    "list_prompts",
    "load_prompt_file",
    "parse_answer",
    "parse_question",
]
