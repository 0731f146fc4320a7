"""Label Studio calls about a project: its settings, its model versions, its ML backends and webhooks."""
from __future__ import annotations

from typing import Any

from .labelstudio_errors import check_id

#: the project sampling under which Label Studio serves tasks by prediction score
UNCERTAINTY_SAMPLING = "Uncertainty sampling"
#: the sampling under which Label Studio tries a few random tasks (``RANDOM_NEXT_TASK_SAMPLE_SIZE``, 50)
UNIFORM_SAMPLING = "Uniform sampling"


class ProjectCalls:
    """The project calls of :class:`~backend.labelstudio_api.LabelStudioAPI`.

    Made through its transport (``client``, ``_sdk``, ``_request``,
    ``_as_dict``); every method raises
    :class:`~backend.labelstudio_errors.LabelStudioAPIError` on failure.
    """

    # -------------------------------------------------------------- projects
    def get_project(self, project_id: int) -> dict:
        """The project's settings: ``title``, ``label_config``, ``description``, ``model_version``, ``sampling``, ..."""
        project_id = check_id(project_id, "project id")
        with self._sdk("GET", f"/api/projects/{project_id}/"):
            return self._as_dict(self.client.projects.get(id=project_id))

    def ml_backends(self, project_id: int) -> Any:
        """The project's ML backend connections (``GET /api/ml/``), as Label Studio answers."""
        return self._request("GET", "/api/ml/", params={"project": check_id(project_id, "project id")})

    def webhooks(self, project_id: int) -> Any:
        """The project's webhooks (``GET /api/webhooks/``), as Label Studio answers."""
        return self._request("GET", "/api/webhooks/", params={"project": check_id(project_id, "project id")})

    def set_webhook_headers(self, webhook_id: int, headers: dict[str, str]) -> Any:
        """Replace the headers Label Studio sends with webhook ``webhook_id``."""
        return self._request("PATCH", f"/api/webhooks/{check_id(webhook_id, 'webhook id')}/",
                             json={"headers": headers})

    def update_project(self, project_id: int, **fields: Any) -> dict:
        """PATCH the given project fields (e.g. ``description=...``); returns the project."""
        project_id = check_id(project_id, "project id")
        if not fields:
            raise ValueError("update_project needs at least one field to change")
        with self._sdk("PATCH", f"/api/projects/{project_id}/"):
            return self._as_dict(self.client.projects.update(id=project_id, **fields))

    def set_queue_version(self, project_id: int, model_version: str,
                          sampling: str = UNCERTAINTY_SAMPLING) -> dict:
        """Make the queue follow the predictions of ``model_version`` (lowest score first), prelabelling off.

        One PATCH sets the version, the sampling and ``show_collab_predictions``
        false ("Use predictions to prelabel tasks").  With prelabelling on, Label
        Studio 1.23.2's labelling stream builds the annotation from the shown
        priority prediction and submits it as ``parent_prediction``; a refresh
        that deleted that prediction meanwhile made the submit fail with 400
        "Invalid pk".  Off, ``GET /next/`` serves the task without predictions.
        (Label Studio resets ``model_version`` to '' when prelabelling is turned
        off alone; in the same PATCH the version given wins.)  It also keeps a
        candidate's answer from anchoring the label that judges it.
        """
        if not model_version:
            raise ValueError("model_version is empty")
        return self.update_project(project_id, model_version=model_version, sampling=sampling,
                                   show_collab_predictions=False)

    def set_instruction(self, project_id: int, instruction: str, show: bool) -> dict:
        """Replace the labelling instructions (``expert_instruction``, HTML) and whether the stream opens with them."""
        if not isinstance(instruction, str):
            raise ValueError(f"instruction must be text, got {type(instruction).__name__}")
        return self.update_project(project_id, expert_instruction=instruction, show_instruction=bool(show))

    def set_description(self, project_id: int, description: str) -> dict:
        """Replace the project description (what admins see in the project settings and card)."""
        if not isinstance(description, str):
            raise ValueError(f"description must be text, got {type(description).__name__}")
        return self.update_project(project_id, description=description)

    def create_project(self, title: str, label_config: str, **fields: Any) -> dict:
        """Create a project (``title`` needs 3+ characters); returns it, with its ``id``."""
        with self._sdk("POST", "/api/projects/"):
            project = self.client.projects.create(title=title, label_config=label_config, **fields)
        return self._as_dict(project)

    def model_versions(self, project_id: int) -> dict[str, int]:
        """``{model_version: number of predictions}`` of the project, newest first.

        Includes the project's current ``model_version`` (count 0 when it has
        no predictions).
        """
        project_id = check_id(project_id, "project id")
        answer = self._request("GET", f"/api/projects/{project_id}/model-versions/")
        return {str(k): int(v) for k, v in (answer or {}).items()}

    def delete_model_version(self, project_id: int, model_version: str) -> int:
        """Delete every prediction of ``model_version`` in the project; returns how many.

        One call (``DELETE /api/projects/{id}/model-versions/``).  Slow on
        SQLite (about 2 minutes for 10,000 predictions) and it holds the
        database write lock meanwhile; see :mod:`backend.labelstudio_api`.  Annotations
        made while a deleted prediction was shown are kept (their link to the
        prediction is set to null).  If ``model_version`` is the project's
        current one, Label Studio resets the project's ``model_version``.
        """
        project_id = check_id(project_id, "project id")
        if not model_version:
            raise ValueError("model_version is empty")
        answer = self._request("DELETE", f"/api/projects/{project_id}/model-versions/",
                               json={"model_version": model_version})
        return int((answer or {}).get("deleted_predictions", 0))
