"""/webhook: every handled event, idempotency, order independence, and bad deliveries storing nothing."""
from __future__ import annotations

import copy

import numpy as np


def ok(response) -> dict:
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def snapshot(backend, project=1):
    """Everything a delivery could change."""
    store = backend.service.store
    return (store.revision(project), store.get_label_config(project), backend.labels(project),
            sorted(store.predictions(project).items()))


# ------------------------------------------------------------------------ each event
def test_tasks_created_caches_every_candidates_prediction(backend, events):
    body = ok(backend.webhook(events.tasks_created(*range(1, 31))))
    assert body["action"] == "TASKS_CREATED" and body["labels"] == 0 and "prediction_error" not in body
    cached = backend.service.store.predictions(1)
    assert sorted(cached) == list(range(1, 31)) and all(
        set(v) == set(backend.service.pool.cache_keys) for v in cached.values())
    assert backend.ranking()["tasks"] == 30


def test_tasks_created_with_a_task_no_candidate_knows(backend, events):
    body = events.tasks_created(1, 2)
    body["tasks"][1]["data"]["key"] = "k999"
    answer = ok(backend.webhook(body))  # the tasks are stored; the prediction failure is reported
    assert "candidate 'good': task 2: no row with key='k999'" in answer["prediction_error"]
    assert backend.service.store.task_data(1, [1, 2]) == {1: {"key": "k0"}, 2: {"key": "k999"}}


def test_annotation_created_updated_deleted(backend, events):
    ok(backend.webhook(events.tasks_created(1, 2, 3)))
    v0 = backend.ranking()["model_version"]
    a = ok(backend.webhook(events.created(11, 1, "zero", second=1)))
    assert a["annotations_changed"] == 1 and a["labels"] == 1 and a["model_version"] != v0
    assert backend.labels() == [(11, 1, "zero")]
    ok(backend.webhook(events.updated(11, 1, "two", second=2)))
    assert backend.labels() == [(11, 1, "two")]
    ok(backend.webhook(events.created(12, 2, "one", second=3)))
    d = ok(backend.webhook(events.deleted(11)))
    assert d["annotations_removed"] == 1 and backend.labels() == [(12, 2, "one")]
    assert backend.ranking()["labels"] == 1


def test_bulk_annotations_created(backend, events):
    ok(backend.webhook(events.bulk_created([(21, 1, "zero"), (22, 2, "one"), (23, 3, "two")])))
    assert backend.labels() == [(21, 1, "zero"), (22, 2, "one"), (23, 3, "two")]
    # tasks came with the annotations, so their predictions are cached and the labels are used
    assert backend.ranking()["labels_used"] == 3


def test_plural_annotations_key_is_accepted(backend, events):
    body = events.bulk_created([(21, 1, "zero")])
    body["annotations"] = body.pop("annotation")
    ok(backend.webhook(body))
    assert backend.labels() == [(21, 1, "zero")]


def test_tasks_deleted_removes_tasks_predictions_and_labels(backend, events):
    ok(backend.webhook(events.tasks_created(1, 2, 3)))
    ok(backend.webhook(events.created(11, 1, "zero")))
    ok(backend.webhook(events.created(12, 2, "one")))
    ok(backend.webhook(events.tasks_deleted(1, 3)))
    assert backend.labels() == [(12, 2, "one")]
    assert sorted(backend.service.store.predictions(1)) == [2]
    # a late delivery about the deleted task stores nothing
    ok(backend.webhook(events.updated(11, 1, "two", second=9)))
    ok(backend.webhook(events.tasks_created(1)))
    assert backend.labels() == [(12, 2, "one")] and sorted(backend.service.store.predictions(1)) == [2]


def test_project_updated_stores_a_compatible_config(backend, events):
    reordered = events.config.replace('<Choice value="zero"/><Choice value="one"/>',
                                      '<Choice value="one"/><Choice value="zero"/>')
    ok(backend.webhook({"action": "PROJECT_UPDATED", "project": events.project(config=reordered)}))
    assert backend.service.store.get_label_config(1) == reordered


def test_project_updated_with_an_incompatible_config_is_refused(backend, events):
    bad = '<View><Choices name="c" toName="t"><Choice value="a"/><Choice value="b"/></Choices></View>'
    before = snapshot(backend)
    r = backend.webhook({"action": "PROJECT_UPDATED", "project": events.project(config=bad)})
    assert r.status_code == 422 and (
        "candidate 'good': labels['0']: 'zero' is not a Choice of 'c'" in r.get_json()["error"])
    assert snapshot(backend) == before


def test_ignored_label_studio_actions(backend, events):
    before = snapshot(backend)
    for action in ("PROJECT_CREATED", "PROJECT_DELETED", "START_TRAINING", "LABEL_LINK_CREATED"):
        assert ok(backend.webhook({"action": action, "project": events.project()})) == {
            "status": "ignored", "action": action}
    assert snapshot(backend) == before


def test_event_for_a_project_never_set_up(backend_factory, events):
    b = backend_factory()
    body = events.deleted(5)
    del body["project"]["label_config"]
    r = b.webhook(body)
    assert r.status_code == 404 and "project 1 is unknown" in r.get_json()["error"]
    # with the config in the payload (Label Studio sends it), the project is learnt from the webhook
    ok(b.webhook(events.created(11, 1, "one")))
    assert b.labels() == [(11, 1, "one")]


# ------------------------------------------------------------- cancelled and empty
def test_cancelled_and_empty_annotations_are_not_labels(backend, events):
    ok(backend.webhook(events.created(11, 1, "zero", cancelled=True)))
    ok(backend.webhook(events.created(12, 2, None)))
    other = events.created(13, 3, "one")
    other["annotation"]["result"][0]["from_name"] = "another_control"
    ok(backend.webhook(other))
    skipped = events.created(14, 4, "two")
    skipped["annotation"]["skipped"] = True
    ok(backend.webhook(skipped))
    assert backend.labels() == [] and backend.ranking()["labels"] == 0


def test_cancelling_or_emptying_an_annotation_removes_its_label(backend, events):
    ok(backend.webhook(events.created(11, 1, "zero", second=1)))
    ok(backend.webhook(events.created(12, 2, "one", second=1)))
    ok(backend.webhook(events.updated(11, 1, "zero", second=2, cancelled=True)))
    ok(backend.webhook(events.updated(12, 2, None, second=2)))
    assert backend.labels() == []
    # and the older labelled state, delivered late, does not come back
    ok(backend.webhook(events.created(11, 1, "zero", second=1)))
    assert backend.labels() == []


# ---------------------------------------------------------------- idempotency, order
def test_same_delivery_twice_changes_nothing(backend, events):
    ok(backend.webhook(events.tasks_created(*range(1, 11))))
    first = ok(backend.webhook(events.created(11, 1, "zero", second=1)))
    state, ranking = snapshot(backend), backend.ranking()
    again = ok(backend.webhook(events.created(11, 1, "zero", second=1)))
    assert again["annotations_changed"] == 0 and again["model_version"] == first["model_version"]
    assert snapshot(backend) == state and backend.ranking() == ranking
    ok(backend.webhook(events.deleted(11)))
    after_delete = snapshot(backend)
    ok(backend.webhook(events.deleted(11)))
    assert snapshot(backend) == after_delete


def history(events, truth):
    """A labelling session as webhook deliveries (in the order Label Studio would send them)."""
    deliveries = [events.tasks_created(*range(1, 31))]
    for i in range(20):
        deliveries.append(events.created(100 + i, i + 1, events.choices[(truth[i] + (i % 4 == 0)) % 3], second=i))
    for i in range(0, 20, 4):  # the first answer of these was wrong: the annotator fixes it
        deliveries.append(events.updated(100 + i, i + 1, events.choices[truth[i]], second=30 + i))
    deliveries.append(events.created(200, 21, "zero", second=40, cancelled=True))
    deliveries.append(events.bulk_created([(201, 22, events.choices[truth[21]]),
                                           (202, 23, events.choices[truth[22]])], second=41))
    deliveries.append(events.created(203, 24, "one", second=42))
    deliveries.append(events.deleted(203))
    deliveries.append(events.created(204, 2, events.choices[truth[1]], second=43))  # a second annotator
    deliveries.append(events.tasks_deleted(3))
    return deliveries


def final_state(backend):
    ranking = backend.ranking()
    return backend.labels(), ranking


def test_out_of_order_and_repeated_deliveries_give_the_same_state(backend_factory, events, truth, tmp_path):
    deliveries = history(events, truth)
    reference = backend_factory(MODEL_DIR=str(tmp_path / "in_order"))
    for d in deliveries:
        ok(reference.webhook(d))
    labels, ranking = final_state(reference)
    assert ranking["labels"] == len(labels) == 20 + 2 + 1 - 1  # task 3's label went with the task
    assert (4 * 0 + 100, 1, events.choices[truth[0]]) in labels  # the update won
    rng = np.random.default_rng(0)
    for trial in range(3):
        order = rng.permutation(len(deliveries))
        repeats = rng.choice(len(deliveries), 5)
        shuffled = [copy.deepcopy(deliveries[i]) for i in list(order) + list(repeats)]
        b = backend_factory(MODEL_DIR=str(tmp_path / f"shuffled{trial}"))
        for d in shuffled:
            ok(b.webhook(d))
        assert final_state(b) == (labels, ranking)


def test_several_annotators_of_one_task_vote(backend, events):
    ok(backend.webhook(events.tasks_created(1)))
    ok(backend.webhook(events.created(11, 1, "zero")))
    ok(backend.webhook(events.created(12, 1, "one")))
    belief = backend.service.belief(1)
    assert belief.labels[belief.row(1)] == 1  # a tie goes to the most recent annotation
    ok(backend.webhook(events.created(13, 1, "zero")))
    belief = backend.service.belief(1)
    assert belief.labels[belief.row(1)] == 0 and belief.strategy.n_labels_ == 1


def test_label_for_a_task_without_data_waits_for_its_predictions(backend, events):
    body = events.created(11, 5, "one")
    del body["task"]
    ok(backend.webhook(body))
    assert backend.labels() == [(11, 5, "one")] and backend.ranking()["labels_used"] == 0
    ok(backend.webhook(events.tasks_created(5)))
    assert backend.ranking()["labels_used"] == 1


# -------------------------------------------------------------------- bad deliveries
def _bad_deliveries(events):
    def with_(body, path, value):
        body = copy.deepcopy(body)
        node = body
        for key in path[:-1]:
            node = node[key]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return body

    created = events.created(11, 1, "zero")
    bulk = events.bulk_created([(21, 1, "zero"), (22, 2, "one")])
    return [
        ({"project": events.project()}, 400, "no 'action'"),
        ({"action": 5, "project": events.project()}, 400, "no 'action'"),
        ({"action": "ANNOTATION_EXPLODED", "project": events.project()}, 400,
         "unknown webhook action 'ANNOTATION_EXPLODED'"),
        (with_(created, ["project"], KeyError), 400, "no 'project' object"),
        (with_(created, ["project", "id"], "1"), 400, "project.id must be a non-negative integer id"),
        (with_(created, ["project", "label_config"], 7), 400, "project.label_config must be a string"),
        (with_(created, ["annotation"], KeyError), 400, "no 'annotation' object"),
        (with_(created, ["annotation", "id"], None), 400, "annotation.id must be a non-negative integer id"),
        (with_(created, ["annotation", "task"], "one"), 400, "annotation 11: task must be"),
        (with_(created, ["annotation", "result"], {"x": 1}), 400, "annotation 11: 'result' must be a list"),
        (with_(created, ["annotation", "result", 0], "zero"), 400, "every result item must be an object"),
        (with_(created, ["annotation", "result", 0, "value"], {"choices": "zero"}), 400, "needs value.choices"),
        (with_(created, ["annotation", "result", 0, "value", "choices"], ["three"]), 422,
         "annotation 11: 'three' is not a Choice of 'label'"),
        (with_(created, ["annotation", "result", 0, "value", "choices"], ["zero", "one"]), 422, "2 choices"),
        (with_(created, ["annotation", "updated_at"], "yesterday"), 400, "updated_at 'yesterday' is not ISO 8601"),
        (with_(created, ["annotation", "updated_at"], 5), 400, "updated_at must be an ISO 8601 string"),
        (with_(created, ["task", "data"], "k0"), 400, "'data' must be an object"),
        (with_(bulk, ["annotation"], {"id": 1}), 400, "'annotation' must be a list"),
        (with_(bulk, ["annotation", 1, "result", 0, "value", "choices"], ["four"]), 422, "annotation 22: 'four'"),
        (with_(bulk, ["annotation", 1], 3), 400, "annotation #2 must be an object"),
        (with_(events.deleted(1), ["annotations"], KeyError), 400, "no 'annotations' list"),
        (with_(events.deleted(1), ["annotations", 0, "id"], "x"), 400, "annotation id must be"),
        (with_(events.tasks_created(1), ["tasks", 0, "data"], KeyError), 400, "'data' must be an object"),
        (with_(events.tasks_created(1), ["tasks", 0, "id"], -1), 400, "task.id must be a non-negative"),
        (with_(events.tasks_deleted(1), ["tasks"], "1"), 400, "'tasks' must be a list"),
        ({"action": "PROJECT_UPDATED", "project": {"id": 1}}, 400, "project.label_config is missing"),
        ({"action": "PROJECT_UPDATED", "project": events.project(config="<View>")}, 422, "not valid XML"),
    ]


def test_bad_deliveries_get_4xx_and_store_nothing(backend, events):
    ok(backend.webhook(events.tasks_created(1, 2)))
    ok(backend.webhook(events.created(9, 2, "two")))
    before = snapshot(backend)
    for body, status, message in _bad_deliveries(events):
        r = backend.webhook(body)
        assert r.status_code == status, (body, r.get_json())
        assert message in r.get_json()["error"], (message, r.get_json())
        assert snapshot(backend) == before, body
