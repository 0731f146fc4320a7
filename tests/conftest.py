"""Session-wide fixtures: the shared Label Studio (``label_studio``, see tests/support/pytest_label_studio.py)
and the shared MLflow server (``mlflow_server``, see tests/support/pytest_mlflow.py).

``make test`` runs the suite on two pytest-xdist workers, a whole file per worker at a time (``--dist loadfile``);
each worker has its own session fixtures (its own Label Studio, PostgreSQL cluster, ...) and its own slice of each
port range (:func:`tests.support.ports.worker_slice`).  Files are handed out in the order of
:data:`SLOWEST_FIRST` (then the usual order), so that no long file starts last while the other worker idles; the
files of :data:`SAME_WORKER` go to one worker together (one MLflow server instead of one per worker).
"""
import pytest

pytest_plugins = ["tests.support.pytest_label_studio", "tests.support.pytest_mlflow"]

#: the files that take longest (seconds of a make test on two workers, a busy machine), handed out first
SLOWEST_FIRST = (
    "tests/backend/test_fuzz_routes.py",            # ~390 (hypothesis, in-process: CPU)
    "tests/e2e/test_labelstudio_e2e.py",            # ~290
    "tests/e2e/test_browser_e2e.py",                # ~250
    "tests/e2e/test_kill9_e2e.py",                  # ~250
    "tests/e2e/test_mlflow_e2e.py",                 # ~200 (its worker's MLflow server start included)
    "tests/e2e/test_certified_e2e.py",              # ~180
    "tests/e2e/test_labelstudio_postgres_e2e.py",   # ~140
    "tests/e2e/test_make_run_e2e.py",               # ~140
    "tests/backend/test_mlflow.py",                 # ~90
    "tests/backend/test_belief_resume.py",          # ~80
    "tests/e2e/test_round_e2e.py",                  # ~70
    "tests/e2e/test_confirm_e2e.py",                # ~40
    "tests/e2e/test_writeback_e2e.py",              # ~30
    "tests/e2e/test_tokens_e2e.py",                 # ~30
    "tests/backend/test_labelstudio_api.py",        # ~50 on a fresh Label Studio venv (its template's migrations)
    "tests/core/test_compare_params.py",            # ~35
    "tests/backend/test_request_limits.py",         # ~35
)
#: files that share an expensive session server: one worker runs them all, so the server starts once
SAME_WORKER = {"tests/backend/test_mlflow.py": "tests/e2e/test_mlflow_e2e.py"}


def pytest_collection_modifyitems(session, config, items):
    """On an xdist worker: the files of :data:`SLOWEST_FIRST` first (a stable sort: the order within a file and
    among the other files stays).  Every worker sorts the same collection the same way, as xdist requires."""
    if not hasattr(config, "workerinput"):
        return
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the files of :data:`SAME_WORKER` counted as one (xdist's own scheduler otherwise)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedServerFiles(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return SAME_WORKER.get(scope, scope)

    return SharedServerFiles(config, log)
