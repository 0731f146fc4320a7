"""STOP reaches the annotators: the remaining tasks leave Label Studio's queue and the instructions say STOP.

Label Studio 1.23.2 (Community) cannot pause a project's queue.  Its labelling
stream (``GET /api/projects/{id}/next/``) serves only tasks whose
``is_labeled`` flag is false, and the flag is "the task has at least
``overlap`` annotations", where every task's ``overlap`` is the project's
``maximum_annotations`` (annotations per task).  So on STOP the backend sets
the project's ``maximum_annotations`` to 0: Label Studio sets every task's
overlap to 0 and recomputes every flag in the same request (0.13 s for 400
tasks here), and the annotator's screen shows its own "No More Tasks Left in
Queue"; tasks imported while stopped come in flagged too.  The admin's value
is kept in the project's ``pushed_version`` (:func:`stopped_marker`) and put
back when labels reopen the round or a new batch starts the next one: Label
Studio then recomputes the flags again, and every task with fewer annotations
than that is served again, ordered by the priorities the same refresh pushes
(tasks of earlier rounds carry none, so come last).

The same request sets the project's sampling to uniform (back to uncertainty
on reopening).  Label Studio sets every overlap to 0 first and recomputes the
flags after, in batches; in between every task it has not reached yet looks
taken, and a ``/next/`` under sequential or uncertainty sampling walks
through all the tasks it could serve, locking each row until it answers,
while the flag update waits for those rows.  Under uniform sampling a
``/next/`` tries at most 50 random tasks, so the STOP is not held up by the
annotators it stops.  The labelling
instructions (``expert_instruction``, shown when the stream opens) get a STOP
block (:data:`BEGIN`) above the admin's own text.

A project stopped by an earlier release (a marker without the kept value) had
each task's flag set one request at a time; it is reopened the same way.
"""
from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Sequence

from .labelstudio_api import LabelStudioAPI
from .labelstudio_projects import UNCERTAINTY_SAMPLING, UNIFORM_SAMPLING

#: ``pushed_version`` of a project whose queue is stopped: no priority version, the tasks taken out
STOPPED_PREFIX = "stopped:round-"
#: the STOP block's element: Label Studio 1.23.2 sanitises the instructions (it drops HTML comments, ids,
#: styles and data attributes) but keeps a ``<div>``'s class, so the class finds the block again
BLOCK_CLASS = "modelpicker-stop"
BEGIN = f'<div class="{BLOCK_CLASS}">'
_BLOCK = re.compile(re.escape(BEGIN) + r".*?</div>\n?", re.S)
_MARKER = re.compile(re.escape(STOPPED_PREFIX) + r"(\d+)(?::overlap-(\d+))?")
#: the ``maximum_annotations`` put back when the one a project had is unknown (Label Studio's default)
DEFAULT_OVERLAP = 1


def stopped_marker(round_: int, overlap: int | None = None) -> str:
    """The ``pushed_version`` that records "round ``round_`` stopped, its queue emptied", and the project's
    ``maximum_annotations`` to put back (None: an earlier release's marker, its tasks flagged one by one)."""
    tail = "" if overlap is None else f":overlap-{int(overlap)}"
    return f"{STOPPED_PREFIX}{int(round_)}{tail}"


def _parse(pushed_version: str | None) -> tuple[int, int | None] | None:
    match = _MARKER.fullmatch(pushed_version or "")
    if match is None:
        return None
    return int(match.group(1)), (int(match.group(2)) if match.group(2) is not None else None)


def stopped_round(pushed_version: str | None) -> int | None:
    """The round whose queue is stopped, or None when the queue follows a priority version (or nothing)."""
    parsed = _parse(pushed_version)
    return parsed[0] if parsed else None


def stopped_overlap(pushed_version: str | None) -> int | None:
    """The ``maximum_annotations`` a stopped project had, or None (not stopped, or an earlier marker)."""
    parsed = _parse(pushed_version)
    return parsed[1] if parsed else None


def with_stop_block(instruction: str | None, decision_line: str) -> str:
    """The instructions with the STOP block on top (replacing an earlier one), the admin's text kept below."""
    block = (f"{BEGIN}<h3>{html.escape(decision_line)}</h3><p>Labelling for this batch is finished: no task is "
             f"left in the queue. Close the labelling screen.</p></div>\n")
    return block + without_stop_block(instruction)


def without_stop_block(instruction: str | None) -> str:
    """The instructions without the backend's STOP block (the admin's own text, unchanged)."""
    return _BLOCK.sub("", instruction or "")


def stop_queue(api: LabelStudioAPI, project: int, kept_overlap: int | None = None,
               keep: Callable[[int], None] | None = None) -> dict:
    """Take every task out of the queue: the project's ``maximum_annotations`` to 0 (then :func:`announce`
    says STOP).

    ``kept_overlap``: the value already kept when the queue was stopped before (a label after the STOP, or
    a STOP whose request failed); only a project whose ``maximum_annotations`` is not 0 is written again.
    ``keep(overlap)`` is called with the project's own value before the request: on a large project Label
    Studio may not answer it in time and still apply it, and the value must not be lost then.

    Returns ``{"stopped_tasks", "overlap", "seconds"}``: the tasks without an annotation (what Label Studio
    no longer serves), and the project's own value to put back later.
    """
    start = time.perf_counter()
    settings = api.get_project(project)
    current = settings.get("maximum_annotations")
    overlap = kept_overlap
    if overlap is None:
        overlap = current if isinstance(current, int) and current >= 1 else DEFAULT_OVERLAP
    if keep is not None:
        keep(overlap)
    if current != 0:
        settings = api.update_project(project, maximum_annotations=0, sampling=UNIFORM_SAMPLING)
    return {"stopped_tasks": _open_count(settings), "overlap": overlap, "seconds": time.perf_counter() - start}


def _open_count(settings: dict) -> int | None:
    """Tasks without an annotation, from the project's counters (None when Label Studio gave none)."""
    total, annotated = settings.get("task_number"), settings.get("num_tasks_with_annotations")
    return total - annotated if isinstance(total, int) and isinstance(annotated, int) else None


def announce(api: LabelStudioAPI, project: int, decision_line: str, instruction: str | None) -> None:
    """Put the STOP block on top of the labelling instructions (``instruction``: the current ones), shown on
    opening the labelling screen; nothing is written when they already say exactly that."""
    text = with_stop_block(instruction, decision_line)
    if text != (instruction or ""):
        api.set_instruction(project, text, show=True)


def reopen_queue(api: LabelStudioAPI, project: int, overlap: int | None, legacy_tasks: Sequence[int],
                 instruction: str | None) -> dict:
    """Serve again: the project's ``maximum_annotations`` back to ``overlap`` (every task with fewer
    annotations returns), and the STOP block out of the instructions.

    ``overlap`` None: a project an earlier release stopped task by task; ``legacy_tasks`` (the round's tasks
    without a label) get their flag back one request each, as it took them out.
    The instructions show on opening the stream only if the admin's own text is left.
    Returns ``{"reopened_tasks", "seconds"}``.
    """
    start = time.perf_counter()
    if overlap is None:
        reopened = api.set_labeled(project, [int(t) for t in legacy_tasks], False)
    else:
        reopened = _open_count(api.update_project(project, maximum_annotations=int(overlap),
                                                  sampling=UNCERTAINTY_SAMPLING))
    text = without_stop_block(instruction)
    if text != (instruction or ""):
        api.set_instruction(project, text, show=bool(text.strip()))
    return {"reopened_tasks": reopened, "seconds": time.perf_counter() - start}
