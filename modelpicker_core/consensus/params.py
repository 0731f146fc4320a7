"""The consensus strategy's constructor parameters, checked once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ConsensusParams:
    """Validated parameters of :class:`~modelpicker_core.consensus.Consensus` (documented there).

    ``n_evaluated`` is resolved ("auto" -> 32 or 128), rates are ``(a, b)``
    float pairs, ``voter_counts`` has no repeats.
    """

    n_samples: int
    prior_strength: float
    group_strength: float
    temperatures: tuple[float, ...]
    voter_counts: tuple[int, ...]
    other_rate: tuple[float, float] | None
    n_evaluated: int
    max_contenders: int
    contender_z: float
    n_draws: int
    full_confusion: Any
    exact_limit: int
    gain_samples: int
    unanimous_rate: tuple[float, float]

    @classmethod
    def validated(cls, n_models: int, *, n_samples, prior_strength, group_strength, temperatures, voter_counts,
                  other_rate, n_evaluated, max_contenders, contender_z, n_draws, full_confusion, exact_limit,
                  gain_samples, unanimous_rate) -> ConsensusParams:
        """The parameters normalised, or a ValueError naming the first bad one."""
        temps = tuple(float(t) for t in np.atleast_1d(np.asarray(temperatures, dtype=float)))
        if not temps or min(temps) <= 0:
            raise ValueError(f"temperatures must be a non-empty list of positive numbers, got {temperatures!r}")
        if full_confusion not in ("auto", True, False):
            raise ValueError(f"full_confusion must be 'auto', true or false, got {full_confusion!r}")
        params = cls(n_samples=int(n_samples), prior_strength=float(prior_strength),
                     group_strength=float(group_strength), temperatures=temps,
                     voter_counts=_voter_counts(voter_counts),
                     other_rate=None if other_rate is None else _beta_rate("other_rate", other_rate, "null or "),
                     n_evaluated=_n_evaluated(n_evaluated, n_models), max_contenders=int(max_contenders),
                     contender_z=float(contender_z), n_draws=int(n_draws), full_confusion=full_confusion,
                     exact_limit=int(exact_limit), gain_samples=int(gain_samples),
                     unanimous_rate=_beta_rate("unanimous_rate", unanimous_rate))
        params._check_ranges()
        return params

    def _check_ranges(self) -> None:
        if self.n_draws < 0:
            raise ValueError(f"n_draws must be >= 0, got {self.n_draws}")
        for name, value, low in (("n_samples", self.n_samples, 16), ("n_evaluated", self.n_evaluated, 1),
                                 ("gain_samples", self.gain_samples, 16),
                                 ("max_contenders", self.max_contenders, 2)):
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        for name, value in (("prior_strength", self.prior_strength), ("group_strength", self.group_strength),
                            ("contender_z", self.contender_z)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, in the constructor's terms."""
        return {"n_samples": self.n_samples, "prior_strength": self.prior_strength,
                "group_strength": self.group_strength, "temperatures": list(self.temperatures),
                "voter_counts": list(self.voter_counts),
                "other_rate": None if self.other_rate is None else list(self.other_rate),
                "n_evaluated": self.n_evaluated, "max_contenders": self.max_contenders,
                "contender_z": self.contender_z, "n_draws": self.n_draws, "full_confusion": self.full_confusion,
                "exact_limit": self.exact_limit, "gain_samples": self.gain_samples,
                "unanimous_rate": list(self.unanimous_rate)}


def _voter_counts(voter_counts: Any) -> tuple[int, ...]:
    counts = np.atleast_1d(np.asarray(voter_counts))
    if counts.size == 0 or counts.ndim != 1 or not np.all(np.mod(counts, 1) == 0) or np.any(counts < 0) \
            or any(0 < int(k) < 2 for k in counts):
        raise ValueError(f"voter_counts must be a non-empty list of 0 (every model) or integers >= 2, "
                         f"got {voter_counts!r}")
    return tuple(dict.fromkeys(int(k) for k in counts))


def _beta_rate(name: str, value: Any, alternative: str = "") -> tuple[float, float]:
    rate = np.asarray(value, dtype=float)
    if rate.shape != (2,) or not np.all(np.isfinite(rate)) or not np.all(rate > 0):
        raise ValueError(f"{name} must be {alternative}two positive numbers (a, b), got {value!r}")
    return float(rate[0]), float(rate[1])


def _n_evaluated(n_evaluated: Any, n_models: int) -> int:
    if n_evaluated == "auto":
        return 32 if n_models <= 10 else 128
    if isinstance(n_evaluated, (str, bool)) or not isinstance(n_evaluated, (int, float, np.integer)) \
            or not float(n_evaluated).is_integer():
        raise ValueError(f"n_evaluated must be 'auto' or an integer >= 1, got {n_evaluated!r}")
    return int(n_evaluated)
