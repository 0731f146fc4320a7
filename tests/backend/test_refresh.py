"""Issue 4 through the Flask test client: refresh jobs, their records (/jobs), the debounce and
coalescing in the service, and the Label Studio write-back order (against a recording fake of
:class:`backend.labelstudio_api.LabelStudioAPI`; the real calls are exercised in tests/e2e/test_round_e2e.py)."""
from __future__ import annotations

import pytest

from backend.description_block import BEGIN_MARKER, END_MARKER
from backend.timefmt import iso


def ok(response):
    assert response.status_code == 200, response.get_json()
    return response.get_json()


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class HoldingRunner:
    """An rq-like runner that can delay jobs but runs nothing: jobs stay 'queued' until run_all()."""

    kind, delays = "rq", True

    def __init__(self, service):
        self.service, self.submitted = service, []

    def submit(self, job, *args, delay=None):
        self.submitted.append((job, args, delay))
        return f"rq-{len(self.submitted)}"

    def run_all(self):
        for job, args, _ in self.submitted:
            getattr(self.service, job)(*args)
        self.submitted = []


class FakeLabelStudio:
    """Records every call the refresh makes, in order; keeps predictions per model version."""

    def __init__(self, description: str = "Admin notes: label carefully."):
        self.calls, self.versions, self.description = [], {}, description
        self.project_version = "ModelPicker"
        self.flags, self.instruction, self.show_instruction = {}, "", False
        self.maximum_annotations = 1

    def import_predictions(self, project, predictions):
        self.calls.append(("import_predictions", project, len(predictions)))
        for p in predictions:
            self.versions.setdefault(p["model_version"], []).append(p)
        return len(predictions)

    def set_queue_version(self, project, version):
        self.calls.append(("set_queue_version", project, version))
        self.project_version = version

    def model_versions(self, project):
        self.calls.append(("model_versions", project))
        return {v: len(p) for v, p in self.versions.items()}

    def delete_model_version(self, project, version):
        self.calls.append(("delete_model_version", project, version))
        return len(self.versions.pop(version, []))

    def get_project(self, project):
        self.calls.append(("get_project", project))
        return self._settings()

    def _settings(self):
        tasks = getattr(self, "tasks", {})
        return {"id": 1, "description": self.description, "model_version": self.project_version,
                "expert_instruction": self.instruction, "maximum_annotations": self.maximum_annotations,
                "task_number": len(tasks), "num_tasks_with_annotations": sum(bool(t["annotations"])
                                                                            for t in tasks.values())}

    def update_project(self, project, **fields):
        """Only ``maximum_annotations`` (the STOP's switch, Label Studio recomputes every task's flag) and
        ``sampling``."""
        assert set(fields) == {"maximum_annotations", "sampling"}, fields
        self.calls.append(("update_project", project, fields))
        self.maximum_annotations, self.sampling = fields["maximum_annotations"], fields["sampling"]
        self.flags.clear()
        return self._settings()

    def task_ids(self, project):
        """Label Studio's ``is_labeled`` flags: set by ``set_labeled``, else "has ``maximum_annotations``
        annotations"."""
        self.calls.append(("task_ids", project))
        tasks = getattr(self, "tasks", {})
        return {t: self.flags.get(t, len(tasks[t]["annotations"]) >= self.maximum_annotations) for t in sorted(tasks)}

    def served(self, project=1) -> set[int]:
        """The tasks the labelling stream can serve (flag false)."""
        return {t for t, labelled in self.task_ids(project).items() if not labelled}

    def set_labeled(self, project, task_ids, labeled):
        self.calls.append(("set_labeled", project, list(task_ids), labeled))
        self.flags.update({t: labeled for t in task_ids})
        return len(task_ids)

    def set_instruction(self, project, instruction, show):
        self.calls.append(("set_instruction", project))
        self.instruction, self.show_instruction = instruction, show

    def set_description(self, project, description):
        self.calls.append(("set_description", project))
        self.description = description

    # --- Label Studio's record of tasks and annotations, read by the confirmation job (not a call of the refresh,
    # so not in ``calls``).  ``record_event`` keeps what a real Label Studio holds when it sends that webhook.
    def record_event(self, payload: dict) -> None:
        self.tasks = getattr(self, "tasks", {})
        action = payload.get("action")
        tasks = payload.get("tasks") if action in ("TASKS_CREATED", "TASKS_DELETED") else \
            payload.get("task") if isinstance(payload.get("task"), list) else [payload.get("task")]
        if action == "TASKS_DELETED":
            for t in tasks:
                self.tasks.pop(t["id"], None)
            return
        for t in tasks or []:
            if isinstance(t, dict) and "data" in t:
                self.tasks.setdefault(t["id"], {"id": t["id"], "annotations": []})["data"] = t["data"]
        annotations = payload.get("annotation", payload.get("annotations"))
        annotations = annotations if isinstance(annotations, list) else [annotations] if annotations else []
        for a in annotations:
            for task in self.tasks.values():
                task["annotations"] = [x for x in task["annotations"] if x["id"] != a["id"]]
            if action != "ANNOTATIONS_DELETED":
                self.tasks[a["task"]]["annotations"].append(dict(a))

    def tasks_by_id(self, project, task_ids):
        import copy

        return {t: copy.deepcopy(self.tasks[t]) for t in task_ids if t in getattr(self, "tasks", {})}

    def annotated_tasks(self, project):
        import copy

        return [copy.deepcopy(t) for t in getattr(self, "tasks", {}).values() if t["annotations"]]


def test_a_label_runs_an_inline_refresh_recorded_in_jobs(backend, events):
    ok(backend.webhook(events.tasks_created(*range(1, 31))))
    answer = ok(backend.webhook(events.created(100, 1, "zero")))
    assert answer["refresh"]["status"] == "done" and answer["refresh"]["state"] == "finished"
    jobs = ok(backend.client.get("/jobs?project=1"))
    assert jobs["runner"] == "inline"
    latest = jobs["jobs"][0]
    assert latest["id"] == answer["refresh"]["job"] and latest["kind"] == "refresh"
    assert latest["state"] == "finished" and latest["progress"] == 1.0
    assert latest["started_at"] <= latest["finished_at"]
    assert latest["result"]["labels"] == 1 and "write-back is off" in latest["message"]
    assert [j["kind"] for j in jobs["jobs"]] == ["refresh", "refresh"]  # the import's and the label's


@pytest.mark.parametrize("query, status, message", [
    ("", 400, "query parameter 'project' is required"),
    ("?project=abc", 400, "'project' must be a project id"),
    ("?project=77", 404, "project 77 is unknown"),
    ("?project=1&limit=0", 400, "'limit' must be an integer between 1 and 1000"),
    ("?project=1&limit=x", 400, "'limit'"),
])
def test_jobs_bad_input(backend, query, status, message):
    response = backend.client.get(f"/jobs{query}")
    assert response.status_code == status and message in response.get_json()["error"]


def test_inline_debounce_defers_until_n_labels_or_t_seconds(backend_factory, events):
    b = backend_factory(MODELPICKER_REFRESH_EVERY_LABELS="3", MODELPICKER_REFRESH_MIN_SECONDS="60")
    clock = FakeClock()
    b.service.clock = clock
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))            # forced refresh at t=1000
    statuses = []
    for i in range(5):
        clock.now += 1
        statuses.append(ok(b.webhook(events.created(100 + i, i + 1, "zero")))["refresh"]["status"])
    assert statuses == ["deferred", "deferred", "done", "deferred", "deferred"]
    clock.now += 60                                                 # T passed: the next change refreshes
    assert ok(b.webhook(events.created(200, 10, "one")))["refresh"]["status"] == "done"
    refreshes = [j for j in ok(b.client.get("/jobs?project=1"))["jobs"] if j["kind"] == "refresh"]
    assert len(refreshes) == 3 and refreshes[0]["result"]["labels"] == 6


def test_rq_refreshes_coalesce_and_wait_for_t(backend_factory, events):
    """At most one refresh waits per project; a refresh reads the newest labels when it runs."""
    b = backend_factory(MODELPICKER_REFRESH_EVERY_LABELS="2", MODELPICKER_REFRESH_MIN_SECONDS="10")
    clock = FakeClock()
    b.service.clock = clock
    runner = b.service.runner = HoldingRunner(b.service)
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    first = ok(b.webhook(events.tasks_created(*range(1, 31))))["refresh"]
    assert first["status"] == "queued" and first["delay"] is None
    for i in range(3):  # three labels while the refresh waits in the queue
        assert ok(b.webhook(events.created(100 + i, i + 1, "zero")))["refresh"] == \
            {"status": "coalesced", "job": first["job"]}
    assert [job for job, _, _ in runner.submitted].count("refresh") == 1
    runner.run_all()
    record = ok(b.client.get("/jobs?project=1"))["jobs"][0]
    assert record["state"] == "finished" and record["result"]["labels"] == 3  # the burst in one refresh
    clock.now += 4
    delayed = ok(b.webhook(events.created(110, 11, "one")))["refresh"]
    assert delayed["status"] == "queued" and delayed["delay"] == pytest.approx(6.0)
    assert runner.submitted[-1][2] == pytest.approx(6.0)
    jobs = ok(b.client.get("/jobs?project=1"))["jobs"]
    assert jobs[0]["state"] == "queued" and jobs[0]["run_after"] == iso(clock.now + 6.0)


def test_refresh_pushes_then_switches_then_deletes_and_writes_the_ranking(backend_factory, events):
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret",
                        MODELPICKER_PRIORITY_GRACE_SECONDS="0")
    ls = b.service._api = FakeLabelStudio()
    ls.versions["candidate-x"] = [{"task": 1}]                      # someone else's version: kept
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    first_version = ls.project_version
    assert first_version == b.ranking()["model_version"] and len(ls.versions[first_version]) == 30
    ls.calls.clear()
    ok(b.webhook(events.created(100, 1, "zero")))
    names = [c[0] for c in ls.calls]
    assert names == ["import_predictions", "set_queue_version", "get_project", "set_description",
                     "model_versions", "delete_model_version"]       # push, switch, ranking, then delete
    assert ls.calls[-1][2] == first_version                          # the superseded version went
    version = b.ranking()["model_version"]
    assert ls.project_version == version and set(ls.versions) == {version, "candidate-x"}
    pushed = ls.versions[version]
    belief = b.service.belief(1)
    assert sorted(p["task"] for p in pushed) == list(range(2, 31))  # the unlabelled tasks only
    for p in pushed:
        assert p["result"] == [] and p["score"] == belief.priority[belief.row(p["task"])]
    assert ls.description.startswith("Admin notes: label carefully.\n\n" + BEGIN_MARKER)
    assert ls.description.rstrip().endswith(END_MARKER)
    for name in ("good", "fair", "poor"):
        assert name in ls.description
    assert "Decision: keep labelling" in ls.description
    # nothing changed: a forced refresh finds the state the last one computed from and is not run again
    ls.calls.clear()
    result = b.service.refresh(1, force=True)
    assert result["state"] == "finished" and result["pushed"] == 0 and result["skipped"]
    assert result["model_version"] == version and ls.calls == []


def test_a_refresh_of_the_state_the_last_one_computed_from_is_not_run_again(backend_factory, events, truth):
    """Two processes' jobs, an rq retry, or a forced refresh (new tasks confirmed while another refresh already
    covered them) for the same state: the second finds the state the last finished refresh computed from and
    does nothing, yet its result carries that refresh's version, decision and queue (what readers of the
    latest refresh use).  A new label runs one."""
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    ls = b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    ok(b.webhook(events.created(100, 1, events.choices[truth[0]])))
    first = b.service.refresh(1)                                   # the label's refresh had run inline
    assert first["state"] == "finished" and first["skipped"] and first["pushed"] == 0
    done = next(j for j in b.service.store.jobs(1) if j["kind"] == "refresh" and not j["result"].get("skipped"))
    assert first["labels_covered_by"] == done["id"]
    for key in ("model_version", "decision", "queue_top", "switched_at", "labels", "state_key"):
        assert first[key] == done["result"][key], key
    ls.calls.clear()
    again = b.service.refresh(1)
    assert again["skipped"] and again["labels_covered_by"] == done["id"]
    assert {c[0] for c in ls.calls} <= {"model_versions", "delete_model_version"}  # a held-back clean-up only
    ok(b.webhook(events.created(101, 2, events.choices[truth[1]])))  # a new label: its refresh runs
    latest = b.service.store.jobs(1)[0]
    assert not latest["result"].get("skipped") and latest["result"]["labels"] == 2
    assert latest["result"]["state_key"] != done["result"]["state_key"]
    forced = b.service.refresh(1, force=True)
    assert forced["skipped"] and forced["labels"] == 2 and forced["labels_covered_by"] == latest["id"]


def test_a_failing_label_studio_marks_the_job_failed_not_the_webhook(backend_factory, events):
    from backend.labelstudio_api import LabelStudioAPIError

    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    ls = b.service._api = FakeLabelStudio()

    def broken(project, predictions):
        raise LabelStudioAPIError("POST", f"/api/projects/{project}/import/predictions", 503, "maintenance")

    ls.import_predictions = broken
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    answer = ok(b.webhook(events.tasks_created(*range(1, 31))))
    assert answer["refresh"]["state"] == "failed"
    job = ok(b.client.get("/jobs?project=1"))["jobs"][0]
    assert job["state"] == "failed" and "HTTP 503" in job["message"] and "maintenance" in job["message"]
    assert b.ranking()["tasks"] == 30                                  # the tasks are stored all the same


def test_candidate_predictions_are_written_once_under_their_names(backend_factory, events, truth):
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret",
                        MODELPICKER_WRITE_CANDIDATES="true")
    ls = b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    for name in ("good", "fair", "poor"):
        rows = ls.versions[name]
        assert len(rows) == 30
        assert all(r["result"][0]["from_name"] == "label" and r["result"][0]["to_name"] == "text" for r in rows)
    good = {r["task"]: r["result"][0]["value"]["choices"][0] for r in ls.versions["good"]}
    cached = b.service.store.predictions(1)
    key = b.service.pool.candidates[0].cache_key
    assert good == {t: cached[t][key] for t in range(1, 31)}
    ok(b.webhook(events.created(100, 1, "zero")))
    assert len(ls.versions["good"]) == 30                               # not written again


def test_versions_answers_get_and_post(backend, events):
    ok(backend.webhook(events.tasks_created(1, 2, 3)))
    version = backend.ranking()["model_version"]
    assert ok(backend.client.get("/versions"))["versions"] == [version]
    assert ok(backend.client.get("/versions?project=1"))["versions"] == [version]
    assert ok(backend.post("/versions", {"project": "1.1700000000"}))["versions"] == [version]
    response = backend.client.get("/versions?project=5")
    assert response.status_code == 404 and "project 5 is unknown" in response.get_json()["error"]


def test_push_limit_pushes_only_the_tasks_served_first(backend_factory, events):
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret",
                        MODELPICKER_PUSH_LIMIT="5", MODELPICKER_PRIORITY_GRACE_SECONDS="0")
    ls = b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    ok(b.webhook(events.created(100, 1, "zero")))
    belief = b.service.belief(1)
    pushed = ls.versions[b.ranking()["model_version"]]
    assert len(pushed) == 5 and len(ls.versions) == 1
    free = [(belief.priority[i], int(t)) for i, t in enumerate(belief.task_ids) if belief.labels[i] < 0]
    assert max(p["score"] for p in pushed) <= sorted(free)[4][0]


def test_predict_of_tasks_the_backend_did_not_know_queues_a_refresh_with_rq(backend_factory, events):
    """Tasks imported before the backend was connected arrive through /predict ("Retrieve predictions")."""
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    b.service._api = FakeLabelStudio()
    runner = b.service.runner = HoldingRunner(b.service)
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    tasks = [events.task(t) for t in range(1, 11)]
    ok(b.post("/predict", {"project": 1, "tasks": tasks}))
    assert [job for job, _, _ in runner.submitted] == ["refresh"]
    ok(b.post("/predict", {"project": 1, "tasks": tasks}))        # nothing new: no second refresh
    assert len(runner.submitted) == 1
    runner.run_all()
    assert b.service._api.project_version == b.ranking()["model_version"]


def test_predict_never_refreshes_inline(backend_factory, events):
    b = backend_factory(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="secret")
    ls = b.service._api = FakeLabelStudio()
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.post("/predict", {"project": 1, "tasks": [events.task(t) for t in range(1, 11)]}))
    assert ls.calls == [] and ok(b.client.get("/jobs?project=1"))["jobs"] == []
