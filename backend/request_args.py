"""The endpoints' arguments, checked: a 400 that names the argument for anything malformed."""
from __future__ import annotations

from typing import Any

from .errors import RequestError
from .events import MAX_ID
from .inputs import MAX_DIGITS, parse_int


def parse_project(raw: Any) -> int:
    """Project id from ``12``, ``"12"`` or Label Studio's ``"12.1700000000"`` (id.created-timestamp).

    Strings are ASCII digits only (see :func:`backend.inputs.parse_int`); a
    400 names the parameter for anything else (``²``, 5,000 digits, a sign).
    """
    if isinstance(raw, str) and raw.count(".") == 1:
        head, tail = raw.split(".")
        if tail.isascii() and tail.isdigit() and len(tail) <= MAX_DIGITS:
            raw = head
    try:
        return parse_int(raw, "project", 0, MAX_ID)
    except RequestError:
        shown = raw if not isinstance(raw, str) or len(raw) <= 40 else raw[:40] + f"... ({len(raw)} characters)"
        raise RequestError(400, f"'project' must be a project id like 12 or '12.1700000000' "
                                f"(an integer from 0 to {MAX_ID}, ASCII digits), got {shown!r}") from None



def parse_tasks(tasks: Any) -> list[tuple[int, dict]]:
    """``[(id, data)]`` of /predict's ``tasks``; a 400 naming the first bad task."""
    if not isinstance(tasks, list) or not tasks:
        raise RequestError(400, "'tasks' must be a non-empty list of tasks")
    parsed = []
    for i, task in enumerate(tasks):
        if not isinstance(task, dict) or isinstance(task.get("id"), bool) or not isinstance(task.get("id"), int):
            raise RequestError(400, f"task #{i + 1} must be an object with an integer 'id'")
        if not 0 <= task["id"] <= MAX_ID:
            raise RequestError(400, f"task #{i + 1}: 'id' must be between 0 and {MAX_ID}, got {task['id']}")
        if not isinstance(task.get("data"), dict):
            raise RequestError(400, f"task {task['id']}: 'data' must be an object")
        parsed.append((task["id"], task["data"]))
    return parsed
