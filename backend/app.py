"""The Flask app: label-studio-ml's own app, with ModelPicker's views in place.

:func:`create_app` calls ``label_studio_ml.api.init_app`` (so the app, its
``/health``, ``/setup``, ``/predict``, ``/webhook`` routes and the
:class:`~backend.model.ModelPickerModel` registration are label-studio-ml's)
and then replaces the view functions behind those routes and adds
``GET /rankings``, ``GET /jobs``, ``GET``/``POST /rounds``, ``GET /export``,
``POST /sync`` and ``GET /versions`` (label-studio-ml routes ``/versions`` for POST only, while
Label Studio 1.23 asks with GET).  Why replace them, for label-studio-ml 1.0.9:

* ``/webhook`` hands every event to its job manager: without Redis a
  subprocess per event, which rebuilds the model from the newest job-result
  directory and answers 201 before anything is stored (a label could be lost
  on a crash, and out-of-order events race); a ``PROJECT_UPDATED`` made its
  result lookup raise an ``AssertionError``.  Here an event is validated,
  stored in SQLite and committed *before* the 200 answer, in the request
  thread; only the slow part (candidate predictions for new tasks) goes
  through :mod:`backend.jobs` (inline, or rq when ``REDIS_URL`` is set).
* ``/setup`` and ``/predict`` keep one model object per process, built from
  the last ``/setup``, and ``predict`` is not told the project; here a
  :class:`ModelPickerModel` is built per request for the request's project.
* its error handling answers 500 with a traceback for bad input; here bad
  input gets a 4xx ``{"error": "..."}`` naming what is wrong.

label-studio-ml keeps one module-level Flask app; calling :func:`create_app`
again (tests, a restart in the same process) rebinds it to a new service.
"""
from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from .errors import RequestError
from .inputs import parse_json
from .model import ModelPickerModel
from .redact import redact_text
from .service import Service
from .settings import Settings, from_env

logger = logging.getLogger(__name__)

_service: Service | None = None


def current_service() -> Service:
    """The service of the app last created by :func:`create_app`."""
    if _service is None:
        raise RuntimeError("the backend app has not been created; call backend.app.create_app()")
    return _service


def create_app(settings: Settings | None = None, service: Service | None = None) -> Flask:
    """label-studio-ml's app serving :class:`ModelPickerModel` through ``service``.

    ``settings`` default to the environment; ``service`` defaults to one built
    from the settings (pool loaded, SQLite store opened under ``MODEL_DIR``).
    """
    from label_studio_ml.api import init_app

    global _service
    settings = settings or (service.settings if service else from_env())
    service = service or Service.from_settings(settings)
    _service = service
    app = init_app(model_class=ModelPickerModel, model_dir=str(settings.model_dir))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_mb * 2**20
    if not app.extensions.get("modelpicker"):
        _install(app)
        app.extensions["modelpicker"] = True
    return app


def _body() -> dict:
    """The request's JSON object, parsed strictly (:func:`backend.inputs.parse_json`: nesting limit,
    no lone surrogates); a 400 naming the problem otherwise."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise RequestError(400, "request body is empty; send a JSON object")
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise RequestError(400, "request body must be a JSON object")
    return data


def _optional_body(tolerant: bool = False) -> dict:
    """The request's JSON object, or ``{}`` for an empty body; ``tolerant``: also ``{}`` for a
    body that is not JSON or not an object (the nesting and text checks still apply)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        data = parse_json(raw)
    except RequestError as exc:
        if tolerant and exc.message == "request body is not valid JSON":
            return {}
        raise
    if not isinstance(data, dict):
        if tolerant:
            return {}
        raise RequestError(400, "request body must be a JSON object (or empty)")
    return data


def setup_view():
    data = _body()
    return jsonify(current_service().setup(data.get("project"), data.get("schema")))


def predict_view():
    data = _body()
    model = ModelPickerModel(label_config=data.get("label_config"), project=data.get("project"),
                             service=current_service())
    results = model.predict(data.get("tasks"))
    return jsonify({"results": results, "model_version": results[0]["model_version"]})


def webhook_view():
    data = _body()
    action = data.get("action")
    model = ModelPickerModel(service=current_service())
    return jsonify(model.process_event(action, {k: v for k, v in data.items() if k != "action"}))


def health_view():
    return jsonify(current_service().health())


def rankings_view():
    return jsonify(current_service().rankings(request.args.get("project")))


def jobs_view():
    return jsonify(current_service().jobs(request.args.get("project"), request.args.get("limit")))


def rounds_view():
    service = current_service()
    if request.method == "POST":
        body = _optional_body()
        return jsonify(service.start_round(request.args.get("project", body.get("project")), body.get("reason")))
    return jsonify(service.rounds(request.args.get("project")))


def export_view():
    from flask import Response

    from .export import FILES, build_export, export_files, write_export

    service = current_service()
    wanted = request.args.get("file")
    if wanted is not None and wanted not in FILES:
        raise RequestError(400, f"'file' must be one of {', '.join(FILES)}, got {wanted!r}")
    bundle = build_export(service, request.args.get("project"), request.args.get("round"))
    decision = bundle["decision"]
    out_dir = service.settings.model_dir / "exports" / f"project-{decision['project']}" / f"round-{decision['round']}"
    paths = write_export(bundle, out_dir)
    if wanted is not None:
        kind = "text/csv" if wanted.endswith(".csv") else "application/json"
        return Response(export_files(bundle)[wanted], mimetype=kind,
                        headers={"Content-Disposition": f'attachment; filename="{wanted}"'})
    return jsonify({**bundle, "written_to": str(out_dir), "files": [p.name for p in paths]})


def versions_view():
    project = request.args.get("project")
    if project is None and request.method == "POST":
        project = _optional_body(tolerant=True).get("project")
    return jsonify(current_service().versions(project))


def sync_view():
    return jsonify(current_service().sync(request.args.get("project")))


def train_view():
    raise RequestError(410, "/train is not used: ModelPicker learns from Label Studio's webhook events")


def _error(status: int, message: str):
    response = jsonify({"error": redact_text(message)})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="modelpicker"'
    return response


def _handle_request_error(exc: RequestError):
    message = redact_text(exc.message)
    if exc.status >= 500:
        logger.error("%s %s -> %s: %s", request.method, request.path, exc.status, message)
    else:
        logger.info("%s %s -> %s: %s", request.method, request.path, exc.status, message)
    return _error(exc.status, exc.message)


def _handle_http_error(exc: HTTPException):
    return _error(exc.code or 500, f"{exc.name}: {exc.description}")


def _handle_unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return _handle_http_error(exc)
    import traceback

    # the traceback's text may quote a URL with credentials: logged redacted, never raw
    logger.error("unhandled error in %s %s\n%s", request.method, request.path,
                 redact_text("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
    return _error(500, f"internal error: {type(exc).__name__}: {exc}")


def _check_size():
    """Refuse an oversized body before anything reads it.

    label-studio-ml's ``before_request`` hook reads every body (``request.get_data()``
    for its debug log) and Werkzeug 2.0 applies ``MAX_CONTENT_LENGTH`` only to form
    parsing, so the limit is checked here, first.
    """
    limit = current_service().settings.max_body_mb * 2**20
    if request.content_length is not None and request.content_length > limit:
        return _error(413, f"Request Entity Too Large: the body exceeds {limit // 2**20} MB "
                           f"(MODELPICKER_MAX_BODY_MB)")
    return None


def _check_auth():
    settings = current_service().settings
    if not settings.auth_enabled:
        return None
    auth = request.authorization
    if auth is None or auth.type != "basic" or \
            not hmac.compare_digest((auth.username or "").encode(), settings.basic_auth_user.encode()) or \
            not hmac.compare_digest((auth.password or "").encode(), (settings.basic_auth_pass or "").encode()):
        return _error(401, "authentication required: HTTP basic auth with BASIC_AUTH_USER/BASIC_AUTH_PASS")
    return None


def _install(app: Flask) -> None:
    """Put ModelPicker's views behind label-studio-ml's routes (once per app)."""
    views: dict[str, Any] = {"_setup": setup_view, "_predict": predict_view, "webhook": webhook_view,
                             "health": health_view, "_train": train_view}
    for endpoint, view in views.items():
        if endpoint not in app.view_functions:
            raise RuntimeError(f"label-studio-ml has no {endpoint!r} route; check the pinned version")
        app.view_functions[endpoint] = view
    app.add_url_rule("/rankings", "rankings", rankings_view, methods=["GET"])
    app.add_url_rule("/jobs", "jobs", jobs_view, methods=["GET"])
    app.add_url_rule("/rounds", "rounds", rounds_view, methods=["GET", "POST"])
    app.add_url_rule("/export", "export", export_view, methods=["GET"])
    app.add_url_rule("/sync", "sync", sync_view, methods=["POST"])
    # label-studio-ml 1.0.9 routes /versions for POST only, but Label Studio 1.23 asks with GET
    if "get_version" in app.view_functions:
        app.view_functions["get_version"] = versions_view
    app.add_url_rule("/versions", "versions_get", versions_view, methods=["GET"])
    app.before_request_funcs.setdefault(None, [])[:0] = [_check_size, _check_auth]
    app.register_error_handler(RequestError, _handle_request_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    # label-studio-ml registers text/500 handlers for these; answer JSON instead
    from rq.exceptions import NoSuchJobError

    for exc_type in (Exception, AssertionError, IndexError, FileNotFoundError, NoSuchJobError):
        app.register_error_handler(exc_type, _handle_unexpected)
