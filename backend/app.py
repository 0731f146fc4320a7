"""The Flask app: label-studio-ml's own app, with ModelPicker's views in place.

:func:`create_app` calls ``label_studio_ml.api.init_app`` (so the app, its
``/health``, ``/setup``, ``/predict``, ``/webhook`` routes and the
:class:`~backend.model.ModelPickerModel` registration are label-studio-ml's)
and then replaces the view functions behind those routes and adds
``GET /rankings``, ``GET /jobs``, ``GET``/``POST /rounds``, ``GET /export``,
``POST /sync``, ``GET /page`` (the ranking page), ``GET /page/chart.png`` and
``GET /versions`` (label-studio-ml routes ``/versions`` for POST only, while
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
  the last ``/setup``, and ``predict`` is not told the project; here the views
  call the service with the request's project (``/predict`` answers the
  service's whole answer, ``new_round`` included), and
  :class:`ModelPickerModel` is only what label-studio-ml registers.
* its error handling answers 500 with a traceback for bad input; here bad
  input gets a 4xx ``{"error": "..."}`` naming what is wrong.
* its ``before_request``/``after_request`` hooks log every request's headers
  and body at DEBUG: the ``Authorization`` header, and the ``access_token``
  Label Studio puts in ``/setup``.  They are removed; :func:`_log_request`
  logs the method, path, size and type only.

Before any view runs, each request passes, in this order: the Host allow-list
(400), the loopback rule for an unauthenticated backend (403), basic auth
(401), the body size by ``Content-Length`` (413; chunked bodies are capped
while read, :mod:`backend.request_limits`) and the JSON-only rule (415).

label-studio-ml keeps one module-level Flask app; calling :func:`create_app`
again (tests, a restart in the same process) rebinds it to a new service.
"""
from __future__ import annotations

import functools
import hmac
import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from .errors import RequestError
from .events import parse_event
from .inputs import parse_json
from .model import ModelPickerModel
from .redact import redact_text
from .request_args import (
    limit_arg,
    parse_project,
    predict_args,
    project_arg,
    reason_arg,
    required,
    schema_arg,
)
from .request_limits import LimitBody, allowed_hosts, check_content_type, check_host, too_large
from .service import Service
from .settings import Settings, check_bind, from_env, is_loopback

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
    Raises :class:`~backend.settings.SettingsError` when ``HOST`` is not
    loopback and no credentials are set (:func:`backend.settings.check_bind`),
    so no server, gunicorn included, serves an open backend by accident.
    """
    from label_studio_ml.api import init_app

    global _service
    settings = settings or (service.settings if service else from_env())
    check_bind(settings)
    service = service or Service.from_settings(settings)
    _service = service
    # label-studio-ml builds the model without a service: it takes this one (backend.model never imports the app)
    ModelPickerModel.app_service = service
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
    answer = current_service().setup(parse_project(data.get("project")), schema_arg(data.get("schema")))
    # an authenticated /setup comes from a Label Studio that has our credentials: give its webhook them too
    from .webhook_auth import ensure_in_background

    ensure_in_background(current_service().settings, data.get("project"))
    return jsonify(answer)


def predict_view():
    data = _body()
    service = current_service()
    return jsonify(service.predict(*predict_args(service.require_pool, data.get("project"), data.get("tasks"),
                                                 data.get("label_config"))))


def webhook_view():
    payload = _body()
    event = parse_event(payload)
    if event is None:
        return jsonify({"status": "ignored", "action": payload["action"]})
    return jsonify(current_service().webhook(event))


def health_view():
    return jsonify(current_service().health())


def rankings_view():
    raw = required(request.args.get("project"), "rankings")
    service = current_service()
    service.require_pool()  # a missing parameter first, then an unusable pool, then a bad or unknown project
    return jsonify(service.rankings(parse_project(raw)))


def jobs_view():
    service = current_service()
    project = service.require_known(project_arg(request.args.get("project"), "jobs"))
    return jsonify(service.jobs(project, limit_arg(request.args.get("limit"))))


def rounds_view():
    service = current_service()
    if request.method == "POST":
        body = _optional_body()
        project = service.require_known(project_arg(request.args.get("project", body.get("project")), "rounds"))
        return jsonify(service.start_round(project, reason_arg(body.get("reason"))))
    return jsonify(service.rounds(project_arg(request.args.get("project"), "rounds")))


def export_view():
    from flask import Response

    from .export import FILES, build_export, export_files, write_export

    service = current_service()
    wanted = request.args.get("file")
    if wanted is not None and wanted not in FILES:
        raise RequestError(400, f"'file' must be one of {', '.join(FILES)}, got {wanted!r}")
    bundle = build_export(service, project_arg(request.args.get("project"), "export"), request.args.get("round"))
    decision = bundle["decision"]
    out_dir = service.settings.model_dir / "exports" / f"project-{decision['project']}" / f"round-{decision['round']}"
    paths = write_export(bundle, out_dir)
    tracked = service.tracker.after_export(decision["project"], bundle)  # None unless MLflow tracking is on
    if wanted is not None:
        kind = "text/csv" if wanted.endswith(".csv") else "application/json"
        return Response(export_files(bundle)[wanted], mimetype=kind,
                        headers={"Content-Disposition": f'attachment; filename="{wanted}"'})
    return jsonify({**bundle, "written_to": str(out_dir), "files": [p.name for p in paths],
                    **({"mlflow": tracked} if tracked is not None else {})})


def page_view():
    from flask import Response

    from .ranking_page import page_html

    html = page_html(current_service(), project_arg(request.args.get("project"), "page"))
    return Response(html, mimetype="text/html")


def page_chart_view():
    from flask import Response

    from .ranking_page import chart_for

    png = chart_for(current_service(), project_arg(request.args.get("project"), "page/chart.png"),
                    request.args.get("round"))
    return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})


def versions_view():
    project = request.args.get("project")
    if project is None and request.method == "POST":
        project = _optional_body(tolerant=True).get("project")
    return jsonify(current_service().versions(None if project in (None, "") else project_arg(project, "versions")))


def sync_view():
    return jsonify(current_service().sync(project_arg(request.args.get("project"), "sync")))


def train_view():
    raise RequestError(410, "/train is not used: ModelPicker learns from Label Studio's webhook events")


def _error(status: int, message: str):
    response = jsonify({"error": redact_text(message)})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="modelpicker"'
    if status in (408, 413):
        # the rest of the body is not read: the connection cannot carry another request
        response.headers["Connection"] = "close"
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


def _check_host():
    """400 unless the Host header names an allowed host (DNS rebinding; :func:`backend.request_limits.check_host`)."""
    settings = current_service().settings
    check_host(request.headers.get("Host"), _allowed(settings.allowed_hosts, settings.host))


@functools.lru_cache(maxsize=8)
def _allowed(configured: tuple[str, ...], bind_host: str) -> frozenset[str]:
    return allowed_hosts(configured, bind_host)


def _check_remote():
    """403 for a caller from another machine when the backend has no credentials.

    :func:`backend.settings.check_bind` stops ``python -m backend`` and the
    gunicorn config from listening beyond loopback without credentials; this
    holds whatever server was started with whatever bind address.
    """
    settings = current_service().settings
    if settings.auth_enabled or settings.allow_unauthenticated:
        return None
    # no address: a unix socket or an in-process client, this machine either way
    if not request.remote_addr or is_loopback(request.remote_addr):
        return None
    return _error(403, "this backend has no credentials and serves this machine only: set BASIC_AUTH_USER and "
                       "BASIC_AUTH_PASS (or MODELPICKER_ALLOW_UNAUTHENTICATED=true)")


def _check_size():
    """Refuse a body whose ``Content-Length`` is over the limit before anything reads it.

    Werkzeug 2.0 applies ``MAX_CONTENT_LENGTH`` only to form parsing; a body
    without ``Content-Length`` (chunked) is capped while it is read
    (:class:`backend.request_limits.CappedInput`).
    """
    limit_mb = current_service().settings.max_body_mb
    if request.content_length is not None and request.content_length > limit_mb * 2**20:
        raise too_large(limit_mb)
    return None


def _check_content_type():
    """415 for a body that is not ``application/json`` (forms, text/plain, multipart: cross-site posts)."""
    check_content_type(request.method, request.mimetype, request.content_length,
                       request.headers.get("Transfer-Encoding"))


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


def _log_request():
    """The request at DEBUG without its headers or body (they carry credentials and tokens)."""
    logger.debug("%s %s (%s bytes, %s)", request.method, request.path,
                 request.content_length if request.content_length is not None else "chunked/unknown",
                 request.mimetype or "no content type")


def _log_response(response):
    logger.debug("%s %s -> %s", request.method, request.path, response.status_code)
    return response


def _without_label_studio_ml_logging(app: Flask) -> None:
    """Drop label-studio-ml's hooks that log headers and bodies (Authorization, access_token) at DEBUG."""
    for funcs in (app.before_request_funcs.get(None, []), app.after_request_funcs.get(None, [])):
        funcs[:] = [f for f in funcs if getattr(f, "__module__", "") != "label_studio_ml.api"]


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
    app.add_url_rule("/page", "page", page_view, methods=["GET"])  # the ranking page (backend.ranking_page)
    app.add_url_rule("/page/chart.png", "page_chart", page_chart_view, methods=["GET"])
    # label-studio-ml 1.0.9 routes /versions for POST only, but Label Studio 1.23 asks with GET
    if "get_version" in app.view_functions:
        app.view_functions["get_version"] = versions_view
    app.add_url_rule("/versions", "versions_get", versions_view, methods=["GET"])
    _without_label_studio_ml_logging(app)
    app.before_request_funcs.setdefault(None, [])[:0] = [_check_host, _check_remote, _check_auth, _check_size,
                                                         _check_content_type, _log_request]
    app.after_request_funcs.setdefault(None, []).append(_log_response)
    app.wsgi_app = LimitBody(app.wsgi_app, lambda: current_service().settings.max_body_mb)
    app.register_error_handler(RequestError, _handle_request_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    # label-studio-ml registers text/500 handlers for these; answer JSON instead
    from rq.exceptions import NoSuchJobError

    for exc_type in (Exception, AssertionError, IndexError, FileNotFoundError, NoSuchJobError):
        app.register_error_handler(exc_type, _handle_unexpected)
