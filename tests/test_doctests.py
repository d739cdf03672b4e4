"""Run the docstring examples of every mathsynth module (public functions carry runnable examples)."""

import doctest
import importlib
import pkgutil

import pytest

import mathsynth

MODULES = sorted(m.name for m in pkgutil.walk_packages(mathsynth.__path__, "mathsynth."))


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} doctest failures"
