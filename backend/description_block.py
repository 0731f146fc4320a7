"""The ranking as text in the Label Studio project description, between marker lines.

Admins look at the project description (project settings > General, and the
first lines on the project card), so the backend writes the ranking there.
Label Studio 1.23.2 shows the description as plain text (no Markdown, no HTML:
an HTML comment would be shown verbatim), so the block is framed by two
plain-text marker lines.  Whatever the admin wrote outside the markers is kept.
The card shows only a description's first lines, so the block begins with the
decision and the link to the backend's ranking page (:mod:`backend.ranking_page`;
the URL from :mod:`backend.page_link`); the table puts its numbers first and the
names last, so the rows line up in Label Studio's proportional font.

:func:`render_ranking` makes the block, :func:`merge_description` puts it
into an existing description and :func:`extract_block` reads it back (pure
functions, no I/O); :func:`write_ranking` writes it into the project through
:class:`backend.labelstudio_api.LabelStudioAPI`.
"""
from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .decisions import RoundDecision
from .display_order import RESOLVED_P_BEST, display_order
from .labelstudio_api import LabelStudioAPI
from .page_link import backend_url, page_url
from .timefmt import iso

#: every marker line starts with this (matching by prefix keeps old blocks
#: recognisable if the wording after it ever changes)
MARKER_PREFIX = "=== ModelPicker ranking:"
#: short, so that the project card's first lines show the decision line that follows it
BEGIN_MARKER = f"{MARKER_PREFIX} begin ==="
END_MARKER = f"{MARKER_PREFIX} end ==="
#: the block's last lines before the end marker
QUEUE_NOTE = "Queue: the prediction score the backend gives each task is its priority, lower = label first"
REWRITTEN = "(rewritten by the ModelPicker backend after each label; text from the begin to the end line is replaced)"
FIGURE_SPACE = "\u2007"
KEEP_LABELLING = "keep labelling"
_BEGIN_PREFIX = f"{MARKER_PREFIX} begin"
_END_PREFIX = f"{MARKER_PREFIX} end"
_RECORD_FIELDS = ("p_best", "accuracy", "accuracy_low", "accuracy_high", "labels")
_OPTIONAL_FIELDS = ("p_top", "gap")


def decision_text(stop: bool, best: str | None = None, p_best: float | None = None,
                  reason: str | None = None, gap: float | None = None, level: float | None = None) -> str:
    """The decision line: ``"keep labelling"`` or ``"STOP LABELLING: <best> chosen with P(best)=0.970"``.

    Parameters
    ----------
    stop : whether the stopping rule has fired.
    best, p_best : the chosen candidate and its P(best); required when ``stop``.
    reason : optional, appended in parentheses (e.g. ``"budget of 200 labels spent"``).
    gap, level : the chosen candidate's certified bound (accuracy units) and its
        probability, stated as "at most Y points worse than the best candidate (95%)".
    """
    if not stop:
        text = KEEP_LABELLING
    else:
        if not best or p_best is None:
            raise ValueError("a stop decision needs the chosen candidate and its P(best)")
        text = f"STOP LABELLING: {best} chosen with P(best)={float(p_best):.3f}"
        if gap is not None and level is not None:
            text += f", at most {100 * float(gap):.1f} points worse than the best candidate ({float(level):.0%})"
    if reason:
        text += f" ({reason})"
    return text


def _record(raw: Mapping[str, Any], position: int) -> dict[str, Any]:
    name = raw.get("name", raw.get("model"))
    if name is None or str(name).strip() == "":
        raise ValueError(f"ranking entry {position} has no 'name'")
    missing = [field for field in _RECORD_FIELDS if field not in raw]
    if missing:
        raise ValueError(f"ranking entry {position} ({name}) lacks {', '.join(missing)}")
    values = {field: float(raw[field]) for field in _RECORD_FIELDS[:-1]}
    for field in _OPTIONAL_FIELDS:
        if raw.get(field) is not None:
            values[field] = float(raw[field])
    bad = [field for field, value in values.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"ranking entry {position} ({name}) has non-finite {', '.join(bad)}")
    labels = raw["labels"]
    if isinstance(labels, bool) or int(labels) != labels or labels < 0:
        raise ValueError(f"ranking entry {position} ({name}) has labels={labels!r}; expected a count >= 0")
    # one line per candidate: a newline in a name would break the block's line structure
    return {"name": " ".join(str(name).split()), **values, "labels": int(labels)}


def _figures(text: str) -> str:
    """Leading spaces of a right-aligned number as figure spaces (U+2007, as wide as a digit), so the
    numbers of the table line up in Label Studio's proportional font (and HTML does not collapse them)."""
    stripped = text.lstrip(" ")
    return FIGURE_SPACE * (len(text) - len(stripped)) + stripped


def _table(records: list[dict[str, Any]]) -> list[str]:
    """Header and rows: numbers first (fixed width), the candidate's name last (any width)."""
    ties = any(abs(r.get("p_top", r["p_best"]) - r["p_best"]) > 5e-4 for r in records)
    bounds = all("gap" in r for r in records)
    head = f"{'rank':>4}  {'P(best)':>7}" + (f"  {'P(a best)':>9}" if ties else "") + \
        (f"  {'at most (pts)':>13}" if bounds else "") + "  accuracy (95% interval)  candidate"
    rows = [head]
    shown = display_order(records)
    for r in shown:
        cells = [_figures(f"{r['shown_rank']:>4}"), _figures(f"{r['p_best']:>7.3f}")]
        if ties:
            cells.append(_figures(f"{r.get('p_top', r['p_best']):>9.3f}"))
        if bounds:
            cells.append(_figures(f"{100 * r['gap']:>13.1f}"))
        cells.append(f"{r['accuracy']:.3f} ({r['accuracy_low']:.3f}-{r['accuracy_high']:.3f})")
        rows.append("  ".join(cells) + f"  {r['name']}")
    if bounds:
        rows.append("at most (pts): how many accuracy points the candidate may be below the best candidate on "
                    "this batch, guaranteed (all candidates at once, with the stated probability); lower is better")
    if ties:
        rows.append("P(best): probability of being the best, tied bests sharing; "
                    "P(a best): probability of being a true best, ties counting for each (the stop rule's number)")
    if any(not r["resolved"] for r in shown):
        rows.append(f"P(best) below {RESOLVED_P_BEST} is Monte Carlo noise: those candidates are listed by accuracy")
    return rows


def render_ranking(ranking: Sequence[Mapping[str, Any]], decision: str,
                   updated: str | None = None, strategy: str | None = None, link: str | None = None,
                   facts: Sequence[str] = ()) -> str:
    """The ranking block, marker lines included, with no blank line inside.

    The lines, in order, so that the project card (its first few lines) shows
    the decision: the begin marker, ``Decision: ...``, the link to the ranking
    page (when known), the facts (labels used, strategy, time), the table (one
    row per candidate: rank, P(best), the certified bound, accuracy; the name
    last, so the numbers line up in a proportional font), its legend, the end
    marker.

    Parameters
    ----------
    ranking : one dict per candidate, best first, with ``name`` (or
        ``model``, as :meth:`modelpicker_core.Ranking.to_records` gives),
        ``p_best``, ``accuracy``, ``accuracy_low``, ``accuracy_high`` (the 95%
        interval) and ``labels`` (labels behind the estimate); optionally
        ``p_top`` (probability of being *a* true best), shown as its own column
        when it differs from ``p_best`` (that is, when the strategy models ties),
        and ``gap`` (the certified bound, accuracy units).  Shown in
        :func:`backend.display_order.display_order`.
    decision : the decision line, see :func:`decision_text`.
    updated : optional time stamp shown in the block.
    strategy : optional name of the selection strategy shown in the block.
    link : optional URL of the ranking page (``/page?project=ID``).
    facts : further short facts for the facts line (e.g. when the stop was recorded).

    Returns
    -------
    The block as text, ``BEGIN_MARKER`` first and ``END_MARKER`` last.
    """
    records = [_record(raw, i) for i, raw in enumerate(ranking)]
    if not records:
        raise ValueError("the ranking is empty")
    decision = " ".join(str(decision).split())
    if not decision:
        raise ValueError("the decision line is empty")
    labels = sorted({r["labels"] for r in records})
    line = [f"Labels used: {', '.join(str(n) for n in labels)}", *(" ".join(str(f).split()) for f in facts)]
    if strategy:
        line.append(f"strategy: {strategy}")
    if updated:
        line.append(f"updated: {updated}")
    top = [f"Decision: {decision}"]
    if link:
        top.append(f"Ranking page (chart, history, downloads): {' '.join(str(link).split())}")
    return "\n".join([BEGIN_MARKER, *top, " | ".join(line), *_table(records), QUEUE_NOTE, REWRITTEN, END_MARKER])


def _block_spans(lines: list[str]) -> list[tuple[int, int]]:
    """``[(first, last)]`` line ranges of every ranking block, inclusive.

    A block runs from a begin line to the next end line; if the end line is
    missing, it runs to the line before the next blank line, the next begin
    line, or the end of the text (a rendered block has no blank line, so the
    admin's next paragraph survives).
    """
    spans, i = [], 0
    while i < len(lines):
        if not lines[i].strip().startswith(_BEGIN_PREFIX):
            i += 1
            continue
        j = i + 1
        while j < len(lines):
            text = lines[j].strip()
            if text.startswith(_END_PREFIX):
                break
            if text == "" or text.startswith(_BEGIN_PREFIX):
                j -= 1
                break
            j += 1
        else:
            j = len(lines) - 1
        spans.append((i, j))
        i = j + 1
    return spans


def merge_description(existing: str | None, block: str) -> str:
    """Put ``block`` into a project description, keeping everything else the admin wrote.

    * the first existing ranking block is replaced in place; further ones are
      removed (so a description never shows two rankings);
    * a begin line without its end line: the old block is taken to end at the
      next blank line (see :func:`_block_spans`);
    * a stray end line outside any block is removed;
    * with no block yet, ``block`` is appended after a blank line.
    """
    if not block.startswith(_BEGIN_PREFIX) or not block.rstrip().endswith(END_MARKER):
        raise ValueError("block must come from render_ranking (begin and end marker lines)")
    block = block.rstrip("\n")
    lines = (existing or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    spans = _block_spans(lines)
    inside = {k for first, last in spans for k in range(first, last + 1)}
    out: list[str] = []
    placed = False
    for k, line in enumerate(lines):
        if spans and k == spans[0][0]:
            out.append(block)
            placed = True
        if k in inside or line.strip().startswith(_END_PREFIX):
            continue
        out.append(line)
    text = "\n".join(out)
    if not placed:
        text = text.rstrip()
        text = f"{text}\n\n{block}" if text else block
    return text


def extract_block(description: str | None) -> str | None:
    """The first ranking block in a description (marker lines included), or None."""
    lines = (description or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    spans = _block_spans(lines)
    if not spans:
        return None
    first, last = spans[0]
    return "\n".join(lines[first:last + 1])


def decision_line(live: Mapping[str, Any], state: str | None = None) -> str:
    """The decision line of a live decision (:meth:`backend.decisions.LiveDecision.to_dict`) whose round's
    latest record is in ``state`` (``"reopened"`` is said)."""
    if live["stop"]:
        level = None if live.get("delta") is None else 1.0 - float(live["delta"])
        return decision_text(True, live["candidate"], live["p_best"], reason=live.get("reason_text"),
                             gap=live.get("gap"), level=level)
    reason = live.get("reason_text")
    if state == "reopened":
        reason = f"decision reopened by new labels: {reason}"
    return decision_text(False, reason=reason)


def write_ranking(api: LabelStudioAPI, project: int, records: list[dict], decision: RoundDecision,
                  strategy: str) -> str:
    """Put the ranking block into the project description, keeping the admin's text; returns the block.

    ``decision``: the round's live decision and its latest record's state (``"reopened"`` is said).
    The link to the ranking page comes from the ML backend URL Label Studio has for the project
    (:func:`backend.page_link.backend_url`); without one the block has no link.
    """
    line = decision_line(decision.live.to_dict(), decision.state)
    facts = []
    if decision.state == "stop" and decision.recorded and decision.recorded.get("labels") != decision.live.labels:
        facts.append(f"stop recorded at {decision.recorded['labels']} labels")
    stamp = iso(time.time())  # the one time format of everything the backend writes
    base = backend_url(api, project)
    block = render_ranking(records, line, updated=f"{stamp}, round {decision.round}", strategy=strategy,
                           link=page_url(base, project) if base else None, facts=facts)
    current = api.get_project(project).get("description") or ""
    merged = merge_description(current, block)
    if _STAMP.sub("", merged) != _STAMP.sub("", current):  # a new time stamp alone is no change
        api.set_description(project, merged)
    return block


_STAMP = re.compile(r"updated: [^|\n]*")
