"""STOP reaches the annotators: the remaining tasks leave Label Studio's queue and the instructions say STOP.

Label Studio 1.23.2 (Community) cannot pause a project's queue.  Its labelling
stream (``GET /api/projects/{id}/next/``) serves only tasks whose
``is_labeled`` flag is false, whatever the sampling (uncertainty sampling falls
back to random order, never to nothing), and it recomputes the flag only when
the task's annotations change.  So on STOP the backend sets the flag of every
task without an annotation (queue order first, so the tasks about to be served
go first); the annotator's screen then shows Label Studio's own "No More Tasks
Left in Queue".  The labelling instructions (``expert_instruction``, shown when
the stream opens) get a STOP block (:data:`BEGIN`) above the admin's own text.
When labels reopen the round, the round's tasks without a label get their flag
back and the block goes.  What the queue follows is kept as the project's
``pushed_version``: :func:`stopped_marker` while the queue is stopped.
"""
from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence

from .labelstudio_api import LabelStudioAPI

#: ``pushed_version`` of a project whose queue is stopped: no priority version, the tasks taken out
STOPPED_PREFIX = "stopped:round-"
#: the STOP block's element: Label Studio 1.23.2 sanitises the instructions (it drops HTML comments, ids,
#: styles and data attributes) but keeps a ``<div>``'s class, so the class finds the block again
BLOCK_CLASS = "modelpicker-stop"
BEGIN = f'<div class="{BLOCK_CLASS}">'
_BLOCK = re.compile(re.escape(BEGIN) + r".*?</div>\n?", re.S)


def stopped_marker(round_: int) -> str:
    """The ``pushed_version`` that records "round ``round_`` stopped, its queue emptied"."""
    return f"{STOPPED_PREFIX}{int(round_)}"


def stopped_round(pushed_version: str | None) -> int | None:
    """The round whose queue is stopped, or None when the queue follows a priority version (or nothing)."""
    if pushed_version and pushed_version.startswith(STOPPED_PREFIX):
        tail = pushed_version[len(STOPPED_PREFIX):]
        return int(tail) if tail.isdigit() else None
    return None


def with_stop_block(instruction: str | None, decision_line: str) -> str:
    """The instructions with the STOP block on top (replacing an earlier one), the admin's text kept below."""
    block = (f"{BEGIN}<h3>{html.escape(decision_line)}</h3><p>Labelling for this batch is finished: no task is "
             f"left in the queue. Close the labelling screen.</p></div>\n")
    return block + without_stop_block(instruction)


def without_stop_block(instruction: str | None) -> str:
    """The instructions without the backend's STOP block (the admin's own text, unchanged)."""
    return _BLOCK.sub("", instruction or "")


def stop_queue(api: LabelStudioAPI, project: int, first: Sequence[int], again: bool = False) -> dict:
    """Take every task without an annotation out of the queue (then :func:`announce` says STOP).

    Parameters
    ----------
    first : task ids ``(k,)`` the backend holds unlabelled, in the order Label Studio serves them next.
        The first time (``again`` false) they are flagged at once, before anything is read: Label Studio
        keeps serving while this runs, so the tasks it would serve next go first.  Then Label Studio's
        flags are read and any other task still open (one the backend does not rank) is flagged.
    again : the queue was already stopped (a label after the STOP): only tasks Label Studio shows open
        are flagged (usually none).

    Returns ``{"stopped_tasks", "seconds"}``.
    """
    start = time.perf_counter()
    ordered = [] if again else list(dict.fromkeys(int(t) for t in first))
    stopped = api.set_labeled(project, ordered, True)
    done = set(ordered)
    rest = sorted(t for t, labelled in api.task_ids(project).items() if not labelled and t not in done)
    stopped += api.set_labeled(project, rest, True)
    return {"stopped_tasks": stopped, "seconds": time.perf_counter() - start}


def announce(api: LabelStudioAPI, project: int, decision_line: str, instruction: str | None) -> None:
    """Put the STOP block on top of the labelling instructions (``instruction``: the current ones), shown on
    opening the labelling screen; nothing is written when they already say exactly that."""
    text = with_stop_block(instruction, decision_line)
    if text != (instruction or ""):
        api.set_instruction(project, text, show=True)


def reopen_queue(api: LabelStudioAPI, project: int, task_ids: Sequence[int], instruction: str | None) -> dict:
    """Put the round's tasks without a label (``task_ids``) back into the queue and take the STOP block out.

    The instructions show on opening the stream only if the admin's own text is left.
    Returns ``{"reopened_tasks", "seconds"}``.
    """
    start = time.perf_counter()
    reopened = api.set_labeled(project, [int(t) for t in task_ids], False)
    text = without_stop_block(instruction)
    if text != (instruction or ""):
        api.set_instruction(project, text, show=bool(text.strip()))
    return {"reopened_tasks": reopened, "seconds": time.perf_counter() - start}
