"""Strategies by name, and rebuilding a strategy from its JSON state."""
from __future__ import annotations

import inspect
from typing import Any

from .base import Strategy

_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of every registered strategy, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> type[Strategy]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; available: {', '.join(available())}") from None


def make(name: str, n_models: int, n_classes: int, **params: Any) -> Strategy:
    """Construct the strategy registered as ``name``; a parameter it does not take is a ValueError naming it
    (e.g. an option of an older version in a saved state)."""
    cls = get(name)
    unknown = sorted(set(params) - set(inspect.signature(cls.__init__).parameters))
    if unknown:
        raise ValueError(f"strategy {name!r} has no parameter {', '.join(map(repr, unknown))}")
    return cls(n_models, n_classes, **params)


def from_state(state: dict[str, Any]) -> Strategy:
    """Rebuild a strategy, learned state included, from :meth:`Strategy.get_state`."""
    try:
        strategy = make(state["strategy"], state["n_models"], state["n_classes"], **state["params"])
    except KeyError as exc:
        raise ValueError(f"strategy state is missing the field {exc.args[0]!r}") from None
    strategy._set_state(state)
    return strategy


def accepts(name: str, parameter: str) -> bool:
    """Whether the strategy ``name`` takes the constructor parameter ``parameter``."""
    return parameter in inspect.signature(get(name).__init__).parameters


def stop_params(name: str, epsilon: float, delta: float) -> dict[str, float]:
    """The stop's ``epsilon`` and ``delta`` for a strategy that keeps its own certificate (else ``{}``)."""
    return {k: v for k, v in (("delta", delta), ("epsilon", epsilon)) if accepts(name, k)}
