"""ModelPickerModel is a LabelStudioMLBase that label-studio-ml's own manager can build and call."""
from __future__ import annotations

from label_studio_ml.model import LabelStudioMLBase

from backend.model import ModelPickerModel


def test_built_the_way_label_studio_ml_builds_it(backend, events, all_tasks):
    assert issubclass(ModelPickerModel, LabelStudioMLBase)
    # label-studio-ml's manager passes these keywords; the service defaults to the running app's
    model = ModelPickerModel(label_config=events.config, train_output={"job_id": "1"}, hostname="http://ls",
                             access_token="t", model_version="x", project="1.1700000000")
    assert model.service is backend.service and model.hostname == "http://ls"
    results = model.predict(all_tasks[:4], context=None)
    assert len(results) == 4 and all(r["model_version"] == backend.service.belief(1).model_version for r in results)


def test_events_reach_the_service_through_process_event(backend, events):
    model = ModelPickerModel(service=backend.service)
    body = events.created(11, 1, "one")
    action = body.pop("action")
    assert model.process_event(action, body, job_id=None, additional_params={})["labels"] == 1
    body = events.created(12, 2, "two")
    action = body.pop("action")
    assert model.process_event(action, body, None, {})["labels"] == 2  # label-studio-ml's positional call
    assert backend.labels() == [(11, 1, "one"), (12, 2, "two")]
