"""Issue 3, end to end: a real Label Studio 1.23.2 serves the tasks the backend ranks most useful.

Set-up, all through public HTTP APIs: the digits example is built into a
temporary folder (400 held-out digit images, 13 candidate models); Label
Studio runs from its own venv on 127.0.0.1 (installed there when missing);
the backend runs as ``python -m backend`` with that pool and with its own
queue write-back (issue 4) switched off (``MODELPICKER_WRITEBACK=false``), so
Label Studio *pulls* the priorities.  Each project is created, connected to
the backend (``POST /api/ml/``, which adds the webhook) and then gets the
tasks, so the TASKS_CREATED webhook hands the backend all 400 tasks.

* "modelpicker order": Label Studio fetches every task's prediction
  (``retrieve_tasks_predictions``); sampling = uncertainty sampling and
  ``model_version`` = the backend's priority version.  Because the write-back
  is off, **this test** re-triggers ``retrieve_tasks_predictions`` for the
  unlabelled tasks and PATCHes the project's ``model_version`` to the
  backend's new version after every label (the backend's version changes
  with every label; Label Studio only re-fetches when asked).
* "Label Studio default order": sampling stays sequential (import order);
  the backend sees the same tasks and, through the webhook, the same kind of
  labels.
* "queue check": a third project in modelpicker order, annotated for a fixed
  8 labels, to check the queue over more steps than the stopping rule needs.

In the first two, a simulated annotator asks Label Studio for its next task
(``GET /api/projects/{id}/next/``) and answers with the held-back true label
(``POST /api/tasks/{id}/annotations/``) until the backend's top candidate
(``GET /rankings``) has P(best) >= 0.95, or 40 / 200 labels.  The label
counts go to ``benchmarks/results/digits_e2e.json`` (override with
``MODELPICKER_E2E_RESULTS``), which the README quotes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support import annotator
from tests.support.labelstudio import LS_VERSION, REPO_ROOT
from tests.support.polling import wait_until

#: the backend's strategy seed (MODELPICKER_SEED)
BACKEND_SEED = 0
P_BEST_STOP = 0.95
MAX_LABELS = 200
#: each re-prioritisation makes Label Studio store ~400 predictions (about 5-10 s)
MAX_LABELS_REPRIORITISED = 40
#: labels of the third project, which checks the queue over more steps than the stopping rule needs
QUEUE_CHECK_LABELS = 8
REPRIORITISE_EVERY = 1
MODELPICKER_ORDER, DEFAULT_ORDER = "modelpicker_order", "label_studio_default_order"
#: the run's figures, written under the untracked .cache/ (tests write no tracked file)
RESULTS_PATH = Path(os.environ.get("MODELPICKER_E2E_RESULTS",
                                   REPO_ROOT / ".cache" / "e2e-results" / "digits_e2e.json"))


@pytest.fixture(scope="module")
def backend(label_studio, digits, start_backend, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("model_dir")
    return start_backend({
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.personal_token,
        "MODEL_DIR": str(model_dir),
        "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"),
        "MODELPICKER_SEED": str(BACKEND_SEED),
        # the queue plumbing checked here follows the deterministic consensus order and its P(best) rule;
        # the default certified strategy and stop have their own module (test_certified_e2e.py)
        "MODELPICKER_STRATEGY": "consensus", "MODELPICKER_STOP_RULE": "belief",
        # issue 3: Label Studio pulls the priorities (retrieve_tasks_predictions); the
        # backend's own queue write-back (issue 4) stays off so the default-order project keeps its order
        "MODELPICKER_WRITEBACK": "false",
        "LOG_LEVEL": "WARNING",
    })


def _set_up_project(ls, backend, digits, title: str, fetch_predictions: bool) -> dict:
    """Create, connect, import; with ``fetch_predictions`` Label Studio then asks for every task's prediction."""
    project, import_order = annotator.set_up_project(ls, backend.url, title, digits["label_config"],
                                                     digits["tasks"], digits["ref_field"])
    n_predictions = None
    if fetch_predictions:
        annotator.retrieve_predictions(ls, project)
        version = backend.api("GET", "/rankings", params={"project": project})["model_version"]
        n_predictions = len(annotator.prediction_scores(ls, project, version))
    # Label Studio sends the import's TASKS_CREATED webhook after the import request returned: wait for it
    # (a minute at most), then record what the backend knows
    def known() -> int:
        return backend.api("GET", "/rankings", params={"project": project})["tasks"]

    try:
        wait_until(lambda: known() == len(digits["tasks"]), "the imported tasks reaching the backend", 60.0)
    except TimeoutError:
        pass  # test_backend_knows_every_task_of_both_projects reports the count
    return {"project": project, "import_order": import_order, "predictions": n_predictions,
            "backend_tasks": known()}


@pytest.fixture(scope="module")
def runs(label_studio, backend, digits) -> dict:
    """Both annotation loops; writes the results file and returns everything the tests check."""
    ref_field, labels = digits["ref_field"], digits["labels"]
    common = dict(
        truth=lambda task: labels[task["data"][ref_field]],
        key=lambda task: task["data"][ref_field],
        from_name="digit", to_name="image", p_best_stop=P_BEST_STOP,
    )
    out = {}
    for name, title in ((MODELPICKER_ORDER, "digits, ModelPicker order"),
                        (DEFAULT_ORDER, "digits, Label Studio default order")):
        active = name == MODELPICKER_ORDER
        run = _set_up_project(label_studio, backend, digits, title, fetch_predictions=active)
        project = run["project"]
        if active:
            run["result"] = annotator.annotate_until_confident(
                label_studio, backend, project, reprioritise_every=REPRIORITISE_EVERY,
                task_ids=run["import_order"], max_labels=MAX_LABELS_REPRIORITISED, **common)
        else:
            sampling = label_studio.api("GET", f"/api/projects/{project}/")["sampling"]
            assert sampling == annotator.SEQUENTIAL, f"a new project's sampling is {sampling!r}"
            run["result"] = annotator.annotate_until_confident(
                label_studio, backend, project, max_labels=MAX_LABELS, **common)
        out[name] = run
    health = backend.api("GET", "/health")
    _write_results(out, digits["summary"], health["strategy"])
    out["health"] = health
    return out


@pytest.fixture(scope="module")
def queue_check(label_studio, backend, digits) -> dict:
    """A third project, ModelPicker order, annotated for a fixed number of labels (no stopping rule)."""
    ref_field, labels = digits["ref_field"], digits["labels"]
    run = _set_up_project(label_studio, backend, digits, "digits, queue check", fetch_predictions=True)
    run["result"] = annotator.annotate_until_confident(
        label_studio, backend, run["project"],
        truth=lambda task: labels[task["data"][ref_field]], key=lambda task: task["data"][ref_field],
        from_name="digit", to_name="image", p_best_stop=float("inf"), max_labels=QUEUE_CHECK_LABELS,
        reprioritise_every=1, task_ids=run["import_order"])
    return run


def _write_results(out: dict, summary: dict, strategy: str) -> None:
    runs = {}
    for name in (MODELPICKER_ORDER, DEFAULT_ORDER):
        result = out[name]["result"]
        top = result.ranking["candidates"][0]
        runs[name] = {
            "sampling": result.sampling,
            "labels": result.n_labels,
            "stopped_by": result.stopped_by,
            "top_candidate": top["name"],
            "top_p_best": top["p_best"],
            "reprioritisations": result.refreshes,
            "served": [s.key for s in result.served],
            "p_best_after_each_label": [round(s.top_p_best, 4) for s in result.served],
        }
    record = {
        "what": "labels until the backend's top candidate has P(best) >= p_best_stop, in a real Label Studio",
        "produced_by": "python -m pytest tests/e2e/test_labelstudio_e2e.py",
        "label_studio": LS_VERSION,
        "strategy": strategy,
        "backend_seed": BACKEND_SEED,
        "example": {"n_tasks": summary["n_tasks"], "seed": summary["seed"], "true_best": summary["true_best"],
                    "true_accuracy": {c["name"]: c["accuracy"] for c in summary["candidates"]}},
        "p_best_stop": P_BEST_STOP,
        "max_labels": {MODELPICKER_ORDER: MAX_LABELS_REPRIORITISED, DEFAULT_ORDER: MAX_LABELS},
        "reprioritisation": f"the test re-fetched predictions and set model_version every {REPRIORITISE_EVERY} "
                            "label(s)",
        "runs": runs,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(record, indent=2) + "\n")


def test_backend_knows_every_task_of_both_projects(runs, digits):
    for name in (MODELPICKER_ORDER, DEFAULT_ORDER):
        assert runs[name]["backend_tasks"] == len(digits["tasks"]), name


def test_label_studio_fetched_a_prediction_for_every_task(runs, digits):
    assert runs[MODELPICKER_ORDER]["predictions"] == len(digits["tasks"])


def test_label_studio_serves_the_backends_most_informative_tasks(runs):
    run = runs[MODELPICKER_ORDER]
    assert annotator.queue_violations(run["result"], run["import_order"]) == []


def test_queue_follows_the_backend_label_after_label(queue_check):
    result = queue_check["result"]
    assert result.n_labels == QUEUE_CHECK_LABELS
    assert annotator.queue_violations(result, queue_check["import_order"]) == []
    versions = [step.model_version for step in result.served]
    assert len(set(versions)) == len(versions), f"the priority version did not change with every label: {versions}"


def test_default_order_is_import_order(runs):
    run = runs[DEFAULT_ORDER]
    served_ids = [s.task for s in run["result"].served]
    assert served_ids == run["import_order"][:len(served_ids)]


@pytest.mark.parametrize("name", [MODELPICKER_ORDER, DEFAULT_ORDER])
def test_backend_top_candidate_is_the_true_best(runs, digits, name):
    result = runs[name]["result"]
    assert result.stopped_by == "p_best", (
        f"{name}: stopped by {result.stopped_by} after {result.n_labels} labels, "
        f"top {result.ranking['candidates'][0]}")
    assert result.ranking["candidates"][0]["name"] == digits["summary"]["true_best"]


def test_modelpicker_order_needs_fewer_labels(runs):
    active, default = runs[MODELPICKER_ORDER]["result"], runs[DEFAULT_ORDER]["result"]
    assert active.n_labels < default.n_labels, (
        f"ModelPicker order took {active.n_labels} labels, Label Studio's default order {default.n_labels}")
    recorded = json.loads(RESULTS_PATH.read_text())["runs"]
    assert recorded[MODELPICKER_ORDER]["labels"] == active.n_labels
    assert recorded[DEFAULT_ORDER]["labels"] == default.n_labels
