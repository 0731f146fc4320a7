"""The ``LabelStudioMLBase`` subclass: Label Studio's view of the backend.

label-studio-ml 1.0.9 builds one model object per process from the last
``/setup`` and calls ``predict(tasks)`` on it without saying which project the
tasks belong to, so several projects would share one label config.  The views
of :mod:`backend.app` therefore call the :class:`~backend.service.Service`
with the project id taken from the request, and all state lives in the
service (SQLite), not in the model object: :class:`ModelPickerModel` is only
what label-studio-ml registers.  The service is passed in, or set on the class
by :func:`backend.app.create_app`, so this module never imports the app.

With those views label-studio-ml never builds the model: it would only in its
own ``/setup``, ``/predict``, ``/webhook`` and ``/train`` views, all replaced
(``/train`` answers 410).  So the class does not override ``fit``
(label-studio-ml calls it from ``/train`` and from the base ``process_event``,
overridden here) and has no ``model_version`` (label-studio-ml reads that of
its own ``ModelWrapper``, never the model's); the project's priority version
is ``Service.versions``.
"""
from __future__ import annotations

from typing import Any, ClassVar

from label_studio_ml.model import LabelStudioMLBase

from .events import parse_event
from .request_args import predict_args


class ModelPickerModel(LabelStudioMLBase):
    """Ranks the candidate models from annotations and orders Label Studio's queue.

    Parameters
    ----------
    label_config : the project's labelling config (XML).
    train_output : unused (label-studio-ml passes its job results here); the
        belief is rebuilt from the stored labels instead.
    project : the Label Studio project id, or its ``"<id>.<timestamp>"`` uid.
    service : the :class:`~backend.service.Service` doing the work; defaults
        to :attr:`app_service`, the one the running app was created with
        (label-studio-ml builds the model without it).
    """

    #: the service of the app last created by :func:`backend.app.create_app`, which sets it
    app_service: ClassVar[Any] = None

    def __init__(self, label_config: str | None = None, train_output: Any = None, project: Any = None,
                 service: Any = None, **kwargs: Any):
        # label_config is parsed by our own labelconfig module (with clear errors), not label_studio_tools
        super().__init__(label_config=None, train_output=train_output, **kwargs)
        self.label_config = label_config
        self.project = project
        if service is None:
            service = type(self).app_service
            if service is None:
                raise RuntimeError("the backend app has not been created; call backend.app.create_app()")
        self.service = service

    def predict(self, tasks: list[dict], **kwargs: Any) -> list[dict]:
        """One prediction per task: empty result (or the best candidate's answer) and a priority score."""
        args = predict_args(self.service.require_pool, self.project, tasks, self.label_config)
        return self.service.predict(*args)["results"]

    def process_event(self, event: str, data: dict, job_id: Any = None, additional_params: Any = None) -> dict:
        """Handle one webhook event synchronously (see :mod:`backend.app`)."""
        payload = {**data, "action": event}
        parsed = parse_event(payload)
        if parsed is None:
            return {"status": "ignored", "action": event}
        return self.service.webhook(parsed)
