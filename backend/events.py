"""Label Studio webhook payloads, checked and turned into plain operations.

Everything is validated before anything is stored: a malformed payload raises
:class:`~backend.errors.RequestError` (4xx) and the service stores nothing.

Payload shapes (Label Studio 1.23.2, ``send_payload`` on):

* ``ANNOTATION_CREATED`` / ``ANNOTATION_UPDATED``: ``annotation`` (one object),
  ``task`` (one object), ``project``;
* ``ANNOTATIONS_CREATED``: ``annotation`` (a list; ``annotations`` accepted
  too), ``task`` (a list), ``project``;
* ``ANNOTATIONS_DELETED``: ``annotations`` (list of ``{"id"}``), ``project``;
* ``TASKS_CREATED``: ``tasks`` (full tasks), ``project``;
* ``TASKS_DELETED``: ``tasks`` (list of ``{"id"}``), ``project``;
* ``PROJECT_UPDATED``: ``project`` (with ``label_config``).
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from .errors import RequestError
from .labelconfig import ChoicesControl
from .store import AnnotationVersion

#: largest id SQLite stores as an integer (64-bit signed)
MAX_ID = 2 ** 63 - 1
HANDLED = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
           "TASKS_CREATED", "TASKS_DELETED", "PROJECT_UPDATED")
#: Label Studio actions that carry nothing ModelPicker uses; answered 200 "ignored".
IGNORED = ("PROJECT_CREATED", "PROJECT_DELETED", "START_TRAINING",
           "LABEL_LINK_CREATED", "LABEL_LINK_UPDATED", "LABEL_LINK_DELETED")


@dataclasses.dataclass
class Event:
    """One checked webhook delivery.

    Attributes
    ----------
    action : the Label Studio action.
    project : project id.
    label_config : the project's config when the payload carried one.
    tasks : ``(id, data)`` of tasks whose data the payload carried.
    annotations : raw annotation objects (turned into labels by :func:`annotation_versions`).
    deleted_annotations, deleted_tasks : ids.
    """

    action: str
    project: int
    label_config: str | None = None
    tasks: list[tuple[int, dict]] = dataclasses.field(default_factory=list)
    annotations: list[dict] = dataclasses.field(default_factory=list)
    deleted_annotations: list[int] = dataclasses.field(default_factory=list)
    deleted_tasks: list[int] = dataclasses.field(default_factory=list)


def _id(value: Any, what: str) -> int:
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise RequestError(400, f"{what} must be a non-negative integer id (at most {MAX_ID}), got {value!r}")
    return value


def _list(payload: dict, keys: tuple[str, ...], what: str) -> list:
    for key in keys:
        if key in payload:
            value = payload[key]
            if not isinstance(value, list):
                raise RequestError(400, f"{what}: '{key}' must be a list")
            return value
    raise RequestError(400, f"{what}: the payload has no '{keys[0]}' list")


def _task(obj: Any, what: str) -> tuple[int, dict]:
    if not isinstance(obj, dict):
        raise RequestError(400, f"{what} must be an object")
    data = obj.get("data")
    if not isinstance(data, dict):
        raise RequestError(400, f"{what} {obj.get('id')!r}: 'data' must be an object")
    return _id(obj.get("id"), f"{what}.id"), data


def parse_event(payload: Any) -> Event | None:
    """Check a webhook body; None for a known action ModelPicker ignores.

    Raises :class:`RequestError` 400 for a malformed body or an unknown action.
    """
    if not isinstance(payload, dict):
        raise RequestError(400, "webhook body must be a JSON object")
    action = payload.get("action")
    if not isinstance(action, str) or not action:
        raise RequestError(400, "webhook body has no 'action'")
    if action in IGNORED:
        return None
    if action not in HANDLED:
        raise RequestError(400, f"unknown webhook action {action!r}; handled: {', '.join(HANDLED)}")
    project = payload.get("project")
    if not isinstance(project, dict):
        raise RequestError(400, f"{action}: the payload has no 'project' object (turn on 'send payload')")
    event = Event(action=action, project=_id(project.get("id"), f"{action}: project.id"))
    config = project.get("label_config")
    if config is not None and not isinstance(config, str):
        raise RequestError(400, f"{action}: project.label_config must be a string")
    event.label_config = config or None

    if action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
        annotation = payload.get("annotation")
        if not isinstance(annotation, dict):
            raise RequestError(400, f"{action}: the payload has no 'annotation' object")
        event.annotations = [annotation]
        if isinstance(payload.get("task"), dict):
            event.tasks = [_task(payload["task"], f"{action}: task")]
    elif action == "ANNOTATIONS_CREATED":
        event.annotations = _list(payload, ("annotation", "annotations"), action)
        for i, annotation in enumerate(event.annotations):
            if not isinstance(annotation, dict):
                raise RequestError(400, f"{action}: annotation #{i + 1} must be an object")
        tasks = payload.get("task", payload.get("tasks"))
        if isinstance(tasks, list):
            event.tasks = [_task(t, f"{action}: task") for t in tasks]
    elif action == "ANNOTATIONS_DELETED":
        event.deleted_annotations = [_id(a, f"{action}: annotation id")
                                     for a in _list(payload, ("annotations",), action)]
    elif action == "TASKS_CREATED":
        event.tasks = [_task(t, f"{action}: task") for t in _list(payload, ("tasks",), action)]
    elif action == "TASKS_DELETED":
        event.deleted_tasks = [_id(t, f"{action}: task id") for t in _list(payload, ("tasks",), action)]
    elif action == "PROJECT_UPDATED" and event.label_config is None:
        raise RequestError(400, f"{action}: project.label_config is missing")
    for annotation in event.annotations:  # checked up front so a bad one stores nothing
        _id(annotation.get("id"), f"{action}: annotation.id")
        _id(annotation.get("task"), f"{action}: annotation {annotation.get('id')}: task")
    return event


def _version(annotation: dict) -> float | None:
    stamp = annotation.get("updated_at")
    if stamp is None:
        return None
    if not isinstance(stamp, str):
        raise RequestError(400, f"annotation {annotation['id']}: updated_at must be an ISO 8601 string")
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise RequestError(400, f"annotation {annotation['id']}: updated_at {stamp!r} is not ISO 8601") from None


def annotation_versions(annotations: list[dict], choices: ChoicesControl) -> list[AnnotationVersion]:
    """The label each annotation gives, read from its result item of the Choices control.

    Skipped/cancelled annotations, and results without an answer for the
    control, give ``choice=None`` (no label).  An answer that is not a Choice,
    or several answers, raise :class:`RequestError` 422.
    """
    out = []
    for a in annotations:
        ann_id, task = _id(a.get("id"), "annotation.id"), _id(a.get("task"), "annotation.task")
        result = a.get("result")
        if result is not None and not isinstance(result, list):
            raise RequestError(400, f"annotation {ann_id}: 'result' must be a list")
        choice = None
        if not (a.get("was_cancelled") or a.get("skipped")):
            for item in result or []:
                if not isinstance(item, dict):
                    raise RequestError(400, f"annotation {ann_id}: every result item must be an object")
                if item.get("from_name") != choices.name:
                    continue
                value = item.get("value")
                picked = value.get("choices") if isinstance(value, dict) else None
                if not isinstance(picked, list) or not all(isinstance(c, str) for c in picked):
                    raise RequestError(400, f"annotation {ann_id}: result of {choices.name!r} needs "
                                            f"value.choices, a list of strings")
                if len(picked) > 1:
                    raise RequestError(422, f"annotation {ann_id}: {len(picked)} choices for {choices.name!r}; "
                                            f"ModelPicker needs one")
                if picked:
                    if picked[0] not in choices:
                        raise RequestError(422, f"annotation {ann_id}: {picked[0]!r} is not a Choice of "
                                                f"{choices.name!r} (Choices: {', '.join(choices.values)})")
                    choice = choices.canonical(picked[0])
        out.append(AnnotationVersion(annotation=ann_id, task=task, choice=choice, version=_version(a)))
    return out
