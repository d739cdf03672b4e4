"""mathsynth: evaluate, synthesize, train and scale math skills of language models."""

__version__ = "0.1.0"
