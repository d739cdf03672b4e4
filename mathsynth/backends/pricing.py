"""What API calls cost: USD per 1M input / output tokens, per model.

The defaults cover common OpenAI models (list prices; check them against the provider's page before
relying on a budget). A model is matched by exact name first, then by the longest table entry that
is a prefix ending at a ``-``, ``:`` or ``@`` boundary, so dated snapshots such as
``gpt-4o-mini-2024-07-18`` find ``gpt-4o-mini`` (not ``gpt-4o``). Unknown models have no price.

>>> find_price("gpt-4o-2024-08-06")
(2.5, 10.0)
>>> find_price("gpt-4o-mini-2024-07-18")
(0.15, 0.6)
>>> round(cost_usd((2.5, 10.0), prompt_tokens=1000, completion_tokens=500), 6)
0.0075
>>> find_price("my-local-model") is None
True
"""

from __future__ import annotations

from collections.abc import Mapping

from mathsynth.errors import MathsynthError

Price = tuple[float, float]
"""(USD per 1M prompt tokens, USD per 1M completion tokens)."""

DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4-turbo": (10.0, 30.0),
    # GPT-4 Turbo's preview snapshots (the Xwin-Math teacher) share its price, not gpt-4's.
    "gpt-4-1106-preview": (10.0, 30.0),
    "gpt-4-0125-preview": (10.0, 30.0),
    "gpt-4-vision-preview": (10.0, 30.0),
    "gpt-4": (30.0, 60.0),
    "gpt-4-32k": (60.0, 120.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-2024-05-13": (5.0, 15.0),  # the first gpt-4o snapshot kept its launch price
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-3.5-turbo": (0.5, 1.5),
}

_BOUNDARY = ("-", ":", "@")


def merge_prices(overrides: Mapping[str, Price] | None = None) -> dict[str, Price]:
    """The default table updated by the user's ``overrides`` (validated).

    >>> merge_prices({"my-model": (1, 2)})["my-model"]
    (1.0, 2.0)
    >>> merge_prices({"x": (-1, 0)})
    Traceback (most recent call last):
    ...
    mathsynth.errors.MathsynthError: price of model 'x' must be two numbers >= 0 (USD per 1M input, output tokens), got (-1, 0)
    """
    table = dict(DEFAULT_PRICES)
    for model, price in (overrides or {}).items():
        try:
            pin, pout = (float(v) for v in price)
        except (TypeError, ValueError):
            pin = pout = -1.0
        if not (pin >= 0 and pout >= 0):
            raise MathsynthError(f"price of model {model!r} must be two numbers >= 0 "
                                 f"(USD per 1M input, output tokens), got {price!r}")
        table[model] = (pin, pout)
    return table


def find_price(model: str, table: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``: exact match, else the longest prefix entry at a name boundary.

    >>> find_price("gpt-4-turbo-2024-04-09")
    (10.0, 30.0)
    >>> find_price("gpt-4.10") is None  # "gpt-4.1" is a prefix, but not at a boundary
    True
    """
    table = DEFAULT_PRICES if table is None else table
    if model in table:
        return table[model]
    best = None
    for name in table:
        if model.startswith(name) and model[len(name)] in _BOUNDARY and (best is None or len(name) > len(best)):
            best = name
    return table[best] if best is not None else None


def cost_usd(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float:
    """USD cost of one response's usage (0 for an unpriced model).

    >>> cost_usd(None, 10**6, 10**6)
    0.0
    """
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
