"""Issue 4, end to end: the backend re-orders a real Label Studio's queue by itself.

Same digits project and simulated annotator as ``test_labelstudio_e2e.py``,
but the backend runs with its queue write-back on
(``MODELPICKER_WRITEBACK=true``, a refresh after every label) and the test
changes nothing in Label Studio after importing the tasks: no
``retrieve_tasks_predictions``, no sampling or ``model_version`` PATCH.  Before
every task the annotator only *waits* until the project serves by the
backend's current priority version, then checks that the served task has the
lowest score among the unlabelled ones.  The label count goes to
``benchmarks/results/digits_e2e_writeback.json`` (override with
``MODELPICKER_E2E_WRITEBACK_RESULTS``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support import annotator
from tests.support.labelstudio import LS_VERSION, REPO_ROOT

P_BEST_STOP = 0.95
MAX_LABELS = 40
BACKEND_SEED = 0
#: the run's figures, written under the untracked .cache/ (tests write no tracked file)
#: MODELPICKER_PUSH_LIMIT (the default): priorities only for the 100 tasks served first
PUSH_LIMIT = 100
RESULTS_PATH = Path(os.environ.get("MODELPICKER_E2E_WRITEBACK_RESULTS",
                                   REPO_ROOT / ".cache" / "e2e-results" / "digits_e2e_writeback.json"))


@pytest.fixture(scope="module")
def writeback_backend(label_studio, digits, start_backend, tmp_path_factory):
    return start_backend({
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.personal_token,
        "MODEL_DIR": str(tmp_path_factory.mktemp("model_dir_writeback")),
        "MODELPICKER_POOL": str(digits["dir"] / "pool.yaml"),
        "MODELPICKER_SEED": str(BACKEND_SEED),
        # the queue plumbing checked here follows the deterministic consensus order and its P(best) rule;
        # the default certified strategy and stop have their own module (test_certified_e2e.py)
        "MODELPICKER_STRATEGY": "consensus", "MODELPICKER_STOP_RULE": "belief",
        "MODELPICKER_WRITEBACK": "true",
        "MODELPICKER_PUSH_LIMIT": str(PUSH_LIMIT),
        "MODELPICKER_REFRESH_EVERY_LABELS": "1",
        "MODELPICKER_REFRESH_MIN_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }, name="backend-writeback")


@pytest.fixture(scope="module")
def run(label_studio, writeback_backend, digits) -> dict:
    ref_field, labels = digits["ref_field"], digits["labels"]
    project, import_order = annotator.set_up_project(
        label_studio, writeback_backend.url, "digits, backend write-back", digits["label_config"],
        digits["tasks"], ref_field)
    result = annotator.annotate_until_confident(
        label_studio, writeback_backend, project,
        truth=lambda task: labels[task["data"][ref_field]], key=lambda task: task["data"][ref_field],
        from_name="digit", to_name="image", p_best_stop=P_BEST_STOP, max_labels=MAX_LABELS,
        queue_by_backend=True, task_ids=import_order, push_limit=PUSH_LIMIT)
    top = result.ranking["candidates"][0]
    record = {
        "what": "labels until the backend's top candidate has P(best) >= p_best_stop; the backend "
                "orders Label Studio's queue itself (write-back after every label)",
        "produced_by": "python -m pytest tests/e2e/test_writeback_e2e.py",
        "label_studio": LS_VERSION,
        "strategy": writeback_backend.api("GET", "/health")["strategy"],
        "backend_seed": BACKEND_SEED,
        "example": {"n_tasks": digits["summary"]["n_tasks"], "seed": digits["summary"]["seed"],
                    "true_best": digits["summary"]["true_best"]},
        "p_best_stop": P_BEST_STOP,
        "max_labels": MAX_LABELS,
        "labels": result.n_labels,
        "stopped_by": result.stopped_by,
        "top_candidate": top["name"],
        "top_p_best": top["p_best"],
        "label_studio_database_locked_polls": result.locked_polls,
        "served": [s.key for s in result.served],
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(record, indent=2) + "\n")
    return {"project": project, "import_order": import_order, "result": result}


def test_queue_follows_the_backends_writeback(run):
    result = run["result"]
    assert result.sampling == annotator.UNCERTAINTY
    assert annotator.queue_violations(result, run["import_order"]) == []
    versions = [step.model_version for step in result.served]
    assert len(set(versions)) == len(versions), f"the queue version did not change with every label: {versions}"


def test_backend_top_candidate_is_the_true_best(run, digits):
    result = run["result"]
    assert result.stopped_by == "p_best", (
        f"stopped by {result.stopped_by} after {result.n_labels} labels, top {result.ranking['candidates'][0]}")
    assert result.ranking["candidates"][0]["name"] == digits["summary"]["true_best"]
