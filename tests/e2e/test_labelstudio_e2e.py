"""Issue 3, end to end: a real Label Studio 1.23.2 serves the tasks the backend ranks most useful.

Set-up, all through public HTTP APIs: the digits example is built into a
temporary folder (400 held-out digit images, 13 candidate models); Label
Studio runs from its own venv on 127.0.0.1; the backend runs as
``python -m backend`` with that pool.  Two projects get the same tasks and the
same backend (``POST /api/ml/``); Label Studio fetches every task's prediction
(``retrieve_tasks_predictions``).

* "modelpicker order": sampling = uncertainty sampling, ``model_version`` =
  the backend's priority version.  Until the backend re-prioritises on its own
  (issue 4), **this test** re-triggers ``retrieve_tasks_predictions`` for the
  unlabelled tasks and PATCHes the project's ``model_version`` to the
  backend's new version after every label.
* "Label Studio default order": sampling stays sequential (import order);
  the backend sees the same tasks (TASKS_CREATED webhook) and the same labels.

In both, a simulated annotator asks Label Studio for its next task and
answers with the held-back true label, until the backend's top candidate has
P(best) >= 0.95 (or 40 / 200 labels).  The label counts go to
``benchmarks/results/digits_e2e.json`` (override with
``MODELPICKER_E2E_RESULTS``), which the README quotes.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from tests.support import annotator
from tests.support.labelstudio import LS_VERSION, REPO_ROOT

N_TASKS = 400
SEED = 0
P_BEST_STOP = 0.95
MAX_LABELS = 200
#: each re-prioritisation makes Label Studio store ~400 predictions (about 5-10 s)
MAX_LABELS_REPRIORITISED = 40
#: labels of the third project, which checks the queue over more steps than the stopping rule needs
QUEUE_CHECK_LABELS = 8
REPRIORITISE_EVERY = 1
MODELPICKER_ORDER, DEFAULT_ORDER = "modelpicker_order", "label_studio_default_order"
RESULTS_PATH = Path(os.environ.get("MODELPICKER_E2E_RESULTS",
                                   REPO_ROOT / "benchmarks" / "results" / "digits_e2e.json"))


def _load_make_example():
    spec = importlib.util.spec_from_file_location(
        "digits_make_example", REPO_ROOT / "examples" / "digits" / "make_example.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict:
    """The digits example, generated with the seed the README states."""
    make_example = _load_make_example()
    out = tmp_path_factory.mktemp("digits")
    summary = make_example.build(out, n_tasks=N_TASKS, seed=SEED)
    assert summary["true_best_unique"], "the example's true best candidate must be unique"
    return {
        "dir": out,
        "summary": summary,
        "tasks": json.loads((out / "tasks.json").read_text()),
        "labels": json.loads((out / "labels.json").read_text()),
        "label_config": (out / "label_config.xml").read_text(),
        "ref_field": make_example.REF_FIELD,
    }


@pytest.fixture(scope="module")
def backend(label_studio, digits, start_backend, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("model_dir")
    return start_backend({
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.token,
        "MODEL_DIR": str(model_dir),
        "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"),
        "MODELPICKER_SEED": str(SEED),
        # issue 3: Label Studio pulls the priorities (retrieve_tasks_predictions); the
        # backend's own queue write-back (issue 4) stays off so the default-order project keeps its order
        "MODELPICKER_WRITEBACK": "false",
        "LOG_LEVEL": "WARNING",
    })


def _set_up_project(ls, backend, digits, title: str, fetch_predictions: bool) -> dict:
    """Create the project, connect the backend, import the tasks (in that order).

    Connecting first means Label Studio's TASKS_CREATED webhook hands the
    backend every task, so both projects' beliefs cover the same 400 tasks.
    With ``fetch_predictions`` Label Studio then asks the backend for every
    task's prediction (needed for uncertainty sampling).
    """
    project = annotator.create_project(ls, title, digits["label_config"])
    annotator.connect_backend(ls, project, backend.url)
    ids = annotator.import_tasks(ls, project, digits["tasks"], digits["ref_field"])
    n_predictions = None
    if fetch_predictions:
        annotator.retrieve_predictions(ls, project)
        version = backend.api("GET", "/rankings", params={"project": project})["model_version"]
        n_predictions = len(annotator.prediction_scores(ls, project, version))
    known = backend.api("GET", "/rankings", params={"project": project})["tasks"]
    import_order = [ids[task["data"][digits["ref_field"]]] for task in digits["tasks"]]
    return {"project": project, "import_order": import_order, "predictions": n_predictions,
            "backend_tasks": known}


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
        "example": {"n_tasks": summary["n_tasks"], "seed": summary["seed"], "true_best": summary["true_best"],
                    "true_accuracy": {c["name"]: c["accuracy"] for c in summary["candidates"]}},
        "p_best_stop": P_BEST_STOP,
        "max_labels": {MODELPICKER_ORDER: MAX_LABELS_REPRIORITISED, DEFAULT_ORDER: MAX_LABELS},
        "reprioritisation": f"the test re-fetched predictions and set model_version every {REPRIORITISE_EVERY} label(s)",
        "runs": runs,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(record, indent=2) + "\n")


def test_backend_knows_every_task_of_both_projects(runs):
    for name in (MODELPICKER_ORDER, DEFAULT_ORDER):
        assert runs[name]["backend_tasks"] == N_TASKS, name


def test_label_studio_fetched_a_prediction_for_every_task(runs):
    assert runs[MODELPICKER_ORDER]["predictions"] == N_TASKS


def _assert_served_lowest_scores(run: dict) -> None:
    served = run["result"].served
    assert served, "no task was served"
    for step in served:
        assert step.score is not None, f"step {step.step}: task {step.task} has no prediction of {step.model_version}"
        assert step.score == step.lowest_score, (
            f"step {step.step}: Label Studio served task {step.task} with score {step.score}, "
            f"but an unlabelled task scored {step.lowest_score} under {step.model_version}")
    served_ids = [s.task for s in served]
    assert served_ids != run["import_order"][:len(served_ids)], "served in import order"


def test_label_studio_serves_the_backends_most_informative_tasks(runs):
    _assert_served_lowest_scores(runs[MODELPICKER_ORDER])


def test_queue_follows_the_backend_label_after_label(queue_check):
    result = queue_check["result"]
    assert result.n_labels == QUEUE_CHECK_LABELS
    _assert_served_lowest_scores(queue_check)
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
