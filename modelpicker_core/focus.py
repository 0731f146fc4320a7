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
#: disagrees with an uncertified rival, by information gain ("open"), by the exact bounds' expected rise
#: ("gain"), or by information gain scaled up to twice by that rise ("open-gain")
FOCUS = ("none", "open", "gain", "open-gain")


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


def focus_item(focus: str, allowed: np.ndarray, pool: np.ndarray, leader: int, rivals: np.ndarray,
               information_gain: Callable[[np.ndarray], np.ndarray], guess: np.ndarray,
               power: float, gain_at: Callable[[np.ndarray], np.ndarray] | None = None) -> int | None:
    """The guided item among ``allowed`` ``(n_items,)`` where ``leader`` disagrees with one of ``rivals``.

    ``pool``: ``(n_items, n_models)`` predictions; ``information_gain(rows)``: ``(n_rows,)`` bits about the
    belief (``rows`` hold the same classes, possibly in a compact integer dtype); ``guess``: ``(n_items,
    n_models)`` the guide's probability that each model is right; ``gain_at(items)``, if given, the same
    gains of pool rows by index (e.g. :class:`~modelpicker_core.model_selector.PoolGain`, faster).  None when
    no such item is open (the caller falls back to every contested item).

    Runs every step on the whole pool, so the comparisons use the pool's classes in ``int8``
    (:func:`~modelpicker_core.votes.compact_classes`) and the ``(n_open, n_rivals)`` comparisons and guesses
    are taken on the open rows only; the values, and so the item, are those of the full computation.
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
    gain = (lambda items: information_gain(rows[items])) if gain_at is None else gain_at
    if focus == "open":
        return int(idx[int(np.argmax(gain(idx)))])
    differ = differs[idx][:, rivals]                                          # (n_idx, n_rivals)
    g_leader, g_rivals = guess[:, leader][idx][:, None], guess[:, rivals][idx]
    rise = np.sum(np.clip(1.0 + g_leader - g_rivals, 0.0, 2.0) ** power * differ, axis=1)
    if focus == "open-gain":   # information first, the exact bound's rise breaks near-ties
        rise = gain(idx) * (1.0 + rise / max(rise.max(), 1e-12))
    return int(idx[int(np.argmax(rise))])


def head_to_head_prior(prior: np.ndarray, rows: np.ndarray, labels: np.ndarray, ratio: float,
                       multi: bool = False) -> np.ndarray:
    """``(n_models,)`` the log prior ``prior`` with the favourite's margin over each rival shrunk by its losses.

    ``rows``: ``(n_labelled, n_models)`` the labelled items' predictions, ``labels``: ``(n_labelled,)``.  The
    favourite ``f = argmax prior``; against a rival ``r`` it has ``W`` labelled wins (``f`` right, ``r``
    wrong) and ``L`` losses.  Each net loss is a likelihood ratio ``ratio`` for "``r`` is better" (each
    head-to-head item won by the better model with probability ``ratio / (1 + ratio)``), so the prior's
    margin ``prior[f] - prior[r]`` is multiplied by ``ratio ** -max(L - W - margin, 0)``; wins never
    strengthen it.  ``margin`` is 0, or with ``multi`` ``log(n_models - 1) / log(ratio)``: the net losses that
    overcome prior odds ``1 / (n_models - 1)`` that a given rival is the best (with many rivals, some win a
    few head-to-head items by chance).
    """
    fav = int(np.argmax(prior))
    margin = np.log(max(prior.size - 1, 1)) / np.log(ratio) if multi else 0.0
    if rows.shape[0] == 0:
        return prior
    right = rows == labels[:, None]                                   # (n_labelled, n_models)
    net_loss = np.sum(right & ~right[:, [fav]], axis=0) - np.sum(~right & right[:, [fav]], axis=0)
    scale = float(ratio) ** -np.maximum(net_loss - margin, 0.0)
    return prior[fav] - (prior[fav] - prior) * scale
