"""Where the guided share of a certified draw goes: the open items whose labels close the certificate.

The certificate's exact part bounds the leader's gap to a rival by the items on
which the two disagree (:mod:`.certificate`); a label on such an item moves that
bound for certain.  :func:`leader_and_rivals` names the leader and the rivals it
is not yet certified within ``epsilon`` of; :func:`focus_item` picks, among the
open items where the leader disagrees with one of them, the guided item
(``Certified(focus=...)``, :data:`FOCUS`).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .votes import compact_classes

#: which open items compete for the guided share: every contested one ("none"), or those where the leader
#: disagrees with a rival it is not yet certified within epsilon of ("open")
FOCUS = ("none", "open")


def leader_and_rivals(kind: str, gap: np.ndarray, p_top: np.ndarray, lower: np.ndarray, epsilon: float,
                      n_items: int) -> tuple[int, np.ndarray]:
    """The leader and ``(n_rivals,)`` the models it is not yet certified within ``epsilon`` of.

    ``kind``: ``"pick"`` (highest P(best), ties to the smaller gap) or ``"gap"`` (smallest certified gap,
    ties to the higher P(best)).  ``gap``, ``p_top``: ``(n_models,)``; ``lower``: ``(n_models, n_models)``
    lower bounds on the leader-minus-rival count of correct answers over the ``n_items`` items.
    """
    leader = int(np.argmax(p_top - 1e-12 * gap)) if kind == "pick" else int(np.argmin(gap - 1e-9 * p_top))
    rivals = np.flatnonzero((lower[leader] < -epsilon * n_items) & (np.arange(len(gap)) != leader))
    return leader, rivals


def focus_item(allowed: np.ndarray, pool: np.ndarray, leader: int, rivals: np.ndarray,
               information_gain: Callable[[np.ndarray], np.ndarray],
               gain_at: Callable[[np.ndarray], np.ndarray] | None = None) -> int | None:
    """The most informative item among ``allowed`` ``(n_items,)`` where ``leader`` disagrees with one of ``rivals``.

    ``pool``: ``(n_items, n_models)`` predictions; ``information_gain(rows)``: ``(n_rows,)`` bits about the
    belief (``rows`` hold the same classes, possibly in a compact integer dtype); ``gain_at(items)``, if given,
    the same gains of pool rows by index (e.g. :class:`~modelpicker_core.model_selector.PoolGain`, faster).
    None when no such item is open (the caller falls back to every contested item).

    Runs every step on the whole pool, so the comparisons use the pool's classes in ``int8``
    (:func:`~modelpicker_core.votes.compact_classes`); the item is that of the full computation.
    """
    if rivals.size == 0:
        return None
    rows = compact_classes(pool)
    differs = rows != rows[:, leader:leader + 1]                              # (n_items, n_models)
    rival = np.zeros(rows.shape[1], dtype=bool)
    rival[rivals] = True
    every_other = not rival[leader] and int(rival.sum()) == rows.shape[1] - 1   # the leader never differs from itself
    idx = np.flatnonzero(allowed & np.any(differs if every_other else differs & rival, axis=1))
    if idx.size == 0:
        return None
    gain = information_gain(rows[idx]) if gain_at is None else gain_at(idx)
    return int(idx[int(np.argmax(gain))])
