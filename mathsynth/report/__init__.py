"""Reports from result files: HTML and Markdown with matplotlib plots, for evals and scaling studies.

Architecture rule: this package reads result files (``metrics.json``, ``scale.json``) only. It never
imports the evaluate / synth / train / scale stages, so a report can be built anywhere the result
folders are, without a model or a GPU stack.

Entry point: :func:`build_report`.

>>> from mathsynth.report import build_report
>>> callable(build_report)
True
"""

from mathsynth.report.build import build_report

__all__ = ["build_report"]
