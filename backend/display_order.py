"""The order in which the ranking is shown (description block, ranking page, chart legend).

The core orders candidates by P(a true best), then P(best), then accuracy
(:attr:`modelpicker_core.Ranking.order`).  Near 0 those probabilities are
Monte Carlo noise: the consensus strategy estimates P(best) from 512 draws (128
when it guides the certified one), so one draw is worth 0.002 to 0.008, and a
0.447-accurate candidate with one lucky draw was shown above a 0.552 one with
none.  Below :data:`RESOLVED_P_BEST` a P(best) says "not the best" and nothing
about the order, so those candidates are shown after the others, by estimated
accuracy.  The core's ``rank`` (``/rankings``, ``/export``) is left as it is;
``shown_rank`` is the rank shown.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: P(best) (and P(a best)) below this is not resolved by the Monte Carlo: such candidates are ordered by accuracy
RESOLVED_P_BEST = 0.01


def resolved(record: Mapping[str, Any]) -> bool:
    """Whether the record's P(best) or P(a best) reaches :data:`RESOLVED_P_BEST`."""
    top = record.get("p_top")
    return max(float(record["p_best"]), float(top if top is not None else 0.0)) >= RESOLVED_P_BEST


def display_order(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``records`` (best first, as :func:`backend.belief.ranking_records` gives them) in the shown order,
    each with its ``shown_rank`` (1-based) and ``resolved``.

    The first record (the core's leader, the one a decision names) and every record whose P(best) is
    resolved keep the core's order; the others follow, by estimated accuracy (highest first), then by the
    core's order.
    """
    items = [dict(r) for r in records]
    head = [r for i, r in enumerate(items) if i == 0 or resolved(r)]
    tail = [r for i, r in enumerate(items) if i > 0 and not resolved(r)]
    tail = [r for _, r in sorted(enumerate(tail), key=lambda ir: (-float(ir[1]["accuracy"]), ir[0]))]
    out = []
    for rank, record in enumerate(head + tail, start=1):
        out.append({**record, "shown_rank": rank, "resolved": rank <= len(head)})
    return out
