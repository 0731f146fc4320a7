"""The parameters of :class:`~modelpicker_core.certified.Certified`: the type each is kept as, and the checks
that name a bad value (scikit-learn's convention: stored by the constructor, checked there once converted)."""
from __future__ import annotations

from typing import Any

from .focus import FOCUS


def float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


#: the constructor's scalar parameters, converted in this order to the type :class:`Certified` keeps (and in
#: this order in its ``get_params``)
STORED_AS = {"delta": float, "epsilon": float, "exploration": float, "guided": float, "prior_power": float,
             "label_noise": float, "prior_labels": float_or_none, "floor": float, "leader": str, "max_rivals": int,
             "focus": str, "focus_leader": str, "gain_temper": float}
#: checked in this order once converted: (parameter, whether the converted values are usable, the error,
#: formatted with the parameter as passed)
CHECKS = (
    ("focus", lambda s: s.focus in FOCUS, "focus must be one of " + ", ".join(FOCUS) + ", got {!r}"),
    ("gain_temper", lambda s: s.gain_temper >= 0.0, "gain_temper must be >= 0, got {}"),
    ("focus_leader", lambda s: s.focus_leader in ("gap", "pick"), "focus_leader must be 'gap' or 'pick', got {!r}"),
    ("leader", lambda s: s.leader in ("gap", "pick"), "leader must be 'gap' or 'pick', got {!r}"),
    ("floor", lambda s: s.floor > 0, "floor must be > 0, got {}"),
    ("max_rivals", lambda s: s.max_rivals >= 1, "max_rivals must be >= 1, got {}"),
    ("delta", lambda s: 0.0 < s.delta < 1.0, "delta must be in (0, 1), got {}"),
    ("epsilon", lambda s: 0.0 <= s.epsilon < 1.0, "epsilon must be in [0, 1), got {}"),
    ("exploration", lambda s: 0.0 < s.exploration <= 1.0 and 0.0 <= s.guided <= 1.0 - s.exploration,
     "need 0 < exploration <= 1 and 0 <= guided <= 1 - exploration"),
    ("prior_power", lambda s: s.prior_power >= 0.0, "prior_power must be >= 0, got {}"),
    ("prior_labels", lambda s: s.prior_labels is None or s.prior_labels >= 0.0, "prior_labels must be >= 0, got {}"),
    ("label_noise", lambda s: 0.0 < s.label_noise < 0.5, "label_noise must be in (0, 0.5), got {}"),
)
