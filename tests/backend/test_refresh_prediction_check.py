"""A refresh computes the predictions stored tasks lack; it reads every cached prediction to find them
(7 s at 100,000 tasks x 100 candidates), so it skips that read when nothing it depends on changed since a
read found none missing: a label changes no prediction, a new task does."""
from __future__ import annotations

from tests.backend.test_refresh import ok


def counting(store):
    """Count the store's "which of all the project's tasks lack a prediction" reads (a webhook's own tasks
    are checked by the ingest, a few rows each)."""
    calls = []
    original = store.tasks_without_predictions

    def tasks_without_predictions(project, candidates, task_ids=None):
        if task_ids is None:
            calls.append(project)
        return original(project, candidates, task_ids)

    store.tasks_without_predictions = tasks_without_predictions
    return calls


def refresh_jobs(b) -> list[dict]:
    return [j for j in ok(b.client.get("/jobs?project=1"))["jobs"] if j["kind"] == "refresh"]


def test_labels_skip_the_read_and_a_new_task_gets_its_predictions(backend, events):
    calls = counting(backend.service.store)
    ok(backend.webhook(events.tasks_created(*range(1, 21))))        # the import's refresh reads once
    assert len(calls) == 1
    ok(backend.webhook(events.created(100, 1, "zero")))
    ok(backend.webhook(events.created(101, 2, "one")))
    ok(backend.webhook(events.created(102, 3, "two")))
    assert len(calls) == 1                                          # found none missing; labels change none
    assert refresh_jobs(backend)[0]["result"]["labels"] == 3
    backend.service.store.upsert_tasks(1, [(21, events.task(21)["data"])])  # stored without its predictions
    ok(backend.webhook(events.created(103, 4, "zero")))
    assert len(calls) == 2                                          # the matrix revision moved: read again
    assert 21 in backend.service.store.predictions(1, [21])         # and the task got every candidate's answer
    ok(backend.webhook(events.created(104, 5, "one")))
    assert len(calls) == 3                                          # computing one: checked once more, then none
    ok(backend.webhook(events.created(105, 6, "two")))
    assert len(calls) == 3
