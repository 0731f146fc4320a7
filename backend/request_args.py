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


def required(raw: Any, endpoint: str) -> Any:
    """``raw`` (the ``project`` query parameter); a 400 saying how to pass it when it is missing."""
    if raw is None or raw == "":
        raise RequestError(400, f"query parameter 'project' is required, e.g. /{endpoint}?project=12")
    return raw


def project_arg(raw: Any, endpoint: str) -> int:
    """The ``project`` query parameter of ``/<endpoint>``: 400 when missing or malformed."""
    return parse_project(required(raw, endpoint))


def schema_arg(schema: Any) -> str:
    """/setup's ``schema``, the project's label config: a non-empty string."""
    if not isinstance(schema, str) or not schema.strip():
        raise RequestError(400, "'schema' (the project's label config) is missing")
    return schema


def label_config_arg(label_config: Any) -> str | None:
    """/predict's optional ``label_config``: a string, or None when absent or empty."""
    if not label_config:
        return None
    if not isinstance(label_config, str):
        raise RequestError(400, "'label_config' must be a string")
    return label_config


def reason_arg(reason: Any) -> str | None:
    """POST /rounds' optional ``reason``: a string or None."""
    if reason is not None and not isinstance(reason, str):
        raise RequestError(400, "'reason' must be a string")
    return reason


def limit_arg(raw: Any) -> int:
    """/jobs' ``limit``: 1 to 1000, 50 when absent."""
    return 50 if raw in (None, "") else parse_int(raw, "limit", 1, 1000)


def round_arg(raw: Any) -> int | None:
    """/export's ``round``: a positive integer, or None (the current round) when absent."""
    return None if raw in (None, "") else parse_int(raw, "round", 1, 10**9)


def predict_args(require_pool, project_raw: Any, tasks: Any,
                 label_config: Any) -> tuple[int, list[tuple[int, dict]], str | None]:
    """``(project, tasks, label_config)`` of a /predict request, checked in the order its errors are
    reported: the project, the tasks, an unusable pool (``require_pool()``: 503), the label config."""
    project = parse_project(project_raw)
    parsed = parse_tasks(tasks)
    require_pool()
    return project, parsed, label_config_arg(label_config)
