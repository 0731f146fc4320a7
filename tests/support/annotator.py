"""A simulated annotator working through a real Label Studio project's queue.

The calls here are the ones a person's browser makes (``GET
/api/projects/{id}/next/``, ``POST /api/tasks/{id}/annotations/``) plus the
project set-up an admin does (create, import, connect the ML backend, fetch
predictions, choose the sampling).  The annotator answers with held-back true
labels, so a run measures how many labels the backend needs to name the best
candidate when Label Studio serves tasks in a given order.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from .labelstudio import BackendServer, LabelStudioServer, ServerError

UNCERTAINTY = "Uncertainty sampling"
SEQUENTIAL = "Sequential sampling"


# ------------------------------------------------------------ project set-up
def create_project(ls: LabelStudioServer, title: str, label_config: str) -> int:
    """Create a project; returns its id."""
    return int(ls.api("POST", "/api/projects/", json={"title": title, "label_config": label_config})["id"])


def import_tasks(ls: LabelStudioServer, project: int, tasks: list[dict], key_field: str) -> dict[str, int]:
    """Import ``tasks`` (``[{"data": {...}}]``) in order; returns ``{task data[key_field]: task id}``."""
    answer = ls.api("POST", f"/api/projects/{project}/import", json=tasks)
    if answer.get("task_count") != len(tasks):
        raise ServerError(f"import into project {project} created {answer.get('task_count')} of {len(tasks)} tasks")
    ids = {}
    page = 1
    while len(ids) < len(tasks):
        listing = ls.api("GET", "/api/tasks/", params={"project": project, "page": page, "page_size": 500})
        rows = listing["tasks"] if isinstance(listing, dict) else listing
        if not rows:
            break
        ids.update({row["data"][key_field]: int(row["id"]) for row in rows})
        page += 1
    if len(ids) != len(tasks):
        raise ServerError(f"project {project} lists {len(ids)} distinct {key_field!r} values, expected {len(tasks)}")
    return ids


def connect_backend(ls: LabelStudioServer, project: int, backend_url: str, title: str = "ModelPicker") -> int:
    """``POST /api/ml/``: Label Studio checks ``/health`` and ``/setup`` and adds the webhook; returns the ML id."""
    return int(ls.api("POST", "/api/ml/", json={"project": project, "url": backend_url, "title": title})["id"])


def retrieve_predictions(ls: LabelStudioServer, project: int, task_ids: list[int] | None = None) -> Any:
    """Have Label Studio call the backend's ``/setup`` and ``/predict`` for the given tasks (None = all).

    Label Studio only asks for tasks that have no prediction of the backend's
    current model version, and does it synchronously within this call.
    """
    selected = {"all": True} if task_ids is None else {"all": False, "included": list(task_ids)}
    return ls.api("POST", "/api/dm/actions", params={"id": "retrieve_tasks_predictions", "project": project},
                  json={"selectedItems": selected, "project": project})


def set_sampling(ls: LabelStudioServer, project: int, sampling: str, model_version: str | None = None) -> dict:
    """``PATCH`` the project's queue order (and the prediction version uncertainty sampling uses)."""
    body: dict[str, Any] = {"sampling": sampling}
    if model_version is not None:
        body["model_version"] = model_version
    return ls.api("PATCH", f"/api/projects/{project}/", json=body)


def prediction_scores(ls: LabelStudioServer, project: int, model_version: str) -> dict[int, float]:
    """``{task id: score}`` of the project's predictions of ``model_version``, as Label Studio stores them."""
    rows = ls.api("GET", "/api/predictions/", params={"project": project})
    rows = rows["results"] if isinstance(rows, dict) else rows
    return {int(r["task"]): float(r["score"]) for r in rows if r.get("model_version") == model_version}


def set_up_project(ls: LabelStudioServer, backend_url: str, title: str, label_config: str,
                   tasks: list[dict], key_field: str) -> tuple[int, list[int]]:
    """Create a project, connect the backend, then import ``tasks``; returns ``(project, task ids in import order)``.

    Connecting before importing makes Label Studio's TASKS_CREATED webhook
    hand the backend every task.
    """
    project = create_project(ls, title, label_config)
    connect_backend(ls, project, backend_url)
    ids = import_tasks(ls, project, tasks, key_field)
    return project, [ids[task["data"][key_field]] for task in tasks]


def choice_result(from_name: str, to_name: str, value: str) -> list[dict]:
    """The ``result`` of a single-choice annotation."""
    return [{"from_name": from_name, "to_name": to_name, "type": "choices", "value": {"choices": [value]}}]


# -------------------------------------------------------------- the annotator
@dataclasses.dataclass
class ServedTask:
    """One step of the loop: what Label Studio served and what the backend believed after the label.

    ``score`` / ``lowest_score`` are the served task's prediction score and the
    lowest score over the unlabelled tasks, under ``model_version`` (None when
    the queue was not checked against predictions).
    """

    step: int
    task: int
    key: str
    label: str
    model_version: str | None
    score: float | None
    lowest_score: float | None
    top_candidate: str
    top_p_best: float


@dataclasses.dataclass
class LoopResult:
    """A finished annotation loop."""

    project: int
    sampling: str
    served: list[ServedTask]
    stopped_by: str  # "p_best" or "max_labels" or "queue_empty"
    ranking: dict
    refreshes: int
    seconds: float
    #: polls that Label Studio answered "database is locked" (see :func:`wait_for_queue_version`)
    locked_polls: int = 0

    @property
    def n_labels(self) -> int:
        return len(self.served)


def queue_violations(result: LoopResult, import_order: list[int]) -> list[str]:
    """What contradicts "Label Studio served the backend's most informative task" in a checked run.

    Empty when every served task had a prediction of the version in force and
    the lowest score among the unlabelled tasks, and the served order is not
    the import order.
    """
    problems = []
    for step in result.served:
        if step.score is None:
            problems.append(f"step {step.step}: task {step.task} has no prediction of {step.model_version}")
        elif step.score != step.lowest_score:
            problems.append(f"step {step.step}: Label Studio served task {step.task} with score {step.score}, "
                            f"but an unlabelled task scored {step.lowest_score} under {step.model_version}")
    served_ids = [s.task for s in result.served]
    if not served_ids:
        problems.append("no task was served")
    elif served_ids == import_order[:len(served_ids)]:
        problems.append(f"the {len(served_ids)} tasks were served in import order")
    return problems


def wait_for_labels(backend: BackendServer, project: int, n_labels: int, timeout: float = 30.0) -> dict:
    """Poll ``GET /rankings`` until the backend counts ``n_labels`` labels (webhooks delivered)."""
    deadline = time.monotonic() + timeout
    while True:
        ranking = backend.api("GET", "/rankings", params={"project": project})
        if ranking["labels"] >= n_labels or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if ranking["labels"] != n_labels:
        raise ServerError(f"backend counts {ranking['labels']} labels for project {project}, expected "
                          f"{n_labels} after {timeout:.0f} s (webhook not delivered?)")
    return ranking


def wait_for_queue_version(ls: LabelStudioServer, backend: BackendServer, project: int,
                           timeout: float = 120.0) -> tuple[str, int]:
    """Wait until the project serves by the backend's current priority version.

    Returns ``(version, locked)``: the version, and how many polls Label
    Studio answered with "database is locked".

    That is: sampling is uncertainty sampling and ``model_version`` equals the
    ``model_version`` of the backend's ``GET /rankings``.  A 500 "database is
    locked" answer to the poll (Label Studio on SQLite while the backend's
    push holds the write lock) is counted and polled again; any other error
    raises.
    """
    deadline = time.monotonic() + timeout
    settings: dict = {}
    locked = 0
    while True:
        version = backend.api("GET", "/rankings", params={"project": project})["model_version"]
        response = ls.session.get(f"{ls.url}/api/projects/{project}/", timeout=60)
        if response.status_code == 500 and "database is locked" in response.text:
            # Label Studio on SQLite answers 500 while another request (the backend's bulk push)
            # holds the write lock; this poll is the test's instrument, so it just asks again
            locked += 1
        else:
            if not response.ok:
                raise ServerError(f"GET /api/projects/{project}/ answered HTTP {response.status_code}: "
                                  f"{response.text[:500]}")
            settings = response.json()
            if settings.get("model_version") == version and settings.get("sampling") == UNCERTAINTY:
                return version, locked
        if time.monotonic() > deadline:
            raise ServerError(
                f"project {project} still serves {settings.get('sampling')!r} / "
                f"{settings.get('model_version')!r} after {timeout:.0f} s; the backend's version is {version!r}")
        time.sleep(0.2)


def annotate_until_confident(
    ls: LabelStudioServer,
    backend: BackendServer,
    project: int,
    truth: Callable[[dict], str],
    key: Callable[[dict], str],
    from_name: str,
    to_name: str,
    p_best_stop: float,
    max_labels: int,
    reprioritise_every: int | None = None,
    task_ids: list[int] | None = None,
    queue_by_backend: bool = False,
    queue_timeout: float = 120.0,
    push_limit: int | None = None,
) -> LoopResult:
    """Ask Label Studio for the next task, answer it truthfully, until the backend is sure enough.

    Parameters
    ----------
    truth, key : task (as served) -> true Choice value / the task's name.
    p_best_stop : stop once the backend's top candidate has P(best) >= this
        (checked after every label).
    max_labels : stop after this many labels regardless.
    reprioritise_every : None for a project in Label Studio's own order.  An
        integer ``k`` makes the loop, before the first task and then after every
        ``k`` labels, have Label Studio re-fetch the backend's predictions for
        the unlabelled tasks (the backend's version changes with every label),
        set the project's ``model_version`` to the backend's version, and check
        that each served task has the lowest score among the unlabelled tasks.
    task_ids : every task of the project; needed with ``reprioritise_every``
        and ``queue_by_backend``.
    queue_by_backend : the backend writes the queue itself (issue 4's
        write-back): before every task the loop waits (up to ``queue_timeout``
        seconds) until the project's ``model_version`` is the backend's current
        version under uncertainty sampling, then checks the served task's score
        like ``reprioritise_every`` does.  The loop itself changes nothing.
    push_limit : with ``queue_by_backend``, the backend's ``MODELPICKER_PUSH_LIMIT``:
        priorities are expected on exactly ``min(push_limit, unlabelled)``
        tasks (None: on every unlabelled task).
    """
    if (reprioritise_every or queue_by_backend) and not task_ids:
        raise ValueError("checking the queue needs the project's task_ids")
    if reprioritise_every and queue_by_backend:
        raise ValueError("either the test (reprioritise_every) or the backend (queue_by_backend) orders the queue")
    start = time.monotonic()
    served: list[ServedTask] = []
    labelled: set[int] = set()
    all_tasks = set(task_ids or ())
    scores: dict[int, float] = {}
    version: str | None = None
    refreshes = 0
    locked_polls = 0
    stopped_by = "max_labels"
    ranking = backend.api("GET", "/rankings", params={"project": project})
    while len(served) < max_labels:
        if reprioritise_every and len(served) % reprioritise_every == 0:
            retrieve_predictions(ls, project, sorted(all_tasks - labelled))
            version = backend.api("GET", "/rankings", params={"project": project})["model_version"]
            set_sampling(ls, project, UNCERTAINTY, version)
            scores = prediction_scores(ls, project, version)
            missing = (all_tasks - labelled) - set(scores)
            if missing:
                raise ServerError(f"{len(missing)} unlabelled tasks have no prediction of {version}")
            refreshes += 1
        if queue_by_backend:
            version, locked = wait_for_queue_version(ls, backend, project, queue_timeout)
            locked_polls += locked
            scores = prediction_scores(ls, project, version)
            unlabelled = all_tasks - labelled
            expected = len(unlabelled) if push_limit is None else min(push_limit, len(unlabelled))
            if len(unlabelled & set(scores)) != expected:
                raise ServerError(f"{len(unlabelled & set(scores))} unlabelled tasks have a prediction of {version}, "
                                  f"expected {expected}")
        task = ls.api("GET", f"/api/projects/{project}/next/", expected=(200, 404))
        if not task or "id" not in task:
            stopped_by = "queue_empty"
            break
        task_id = int(task["id"])
        if task_id in labelled:
            raise ServerError(f"Label Studio served task {task_id} again after it was labelled")
        label = truth(task)
        ls.api("POST", f"/api/tasks/{task_id}/annotations/",
               json={"result": choice_result(from_name, to_name, label), "lead_time": 1.0})
        labelled.add(task_id)
        unlabelled_scores = [scores[t] for t in scores if t not in labelled or t == task_id]
        ranking = wait_for_labels(backend, project, len(served) + 1)
        top = ranking["candidates"][0]
        served.append(ServedTask(
            step=len(served) + 1, task=task_id, key=key(task), label=label, model_version=version,
            score=scores.get(task_id) if version else None,
            lowest_score=min(unlabelled_scores) if version and unlabelled_scores else None,
            top_candidate=top["name"], top_p_best=float(top["p_best"]),
        ))
        if top["p_best"] >= p_best_stop:
            stopped_by = "p_best"
            break
    return LoopResult(project=project,
                      sampling=UNCERTAINTY if reprioritise_every or queue_by_backend else SEQUENTIAL,
                      served=served, stopped_by=stopped_by, ranking=ranking, refreshes=refreshes,
                      seconds=time.monotonic() - start, locked_polls=locked_polls)
