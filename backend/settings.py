"""Backend settings, read from the environment like any label-studio-ml backend.

Every variable has an embedded default except ``MODELPICKER_POOL`` (the
candidate pool has no sensible default).  :func:`from_env` checks every value
and names the variable in its error, so a typo stops the start with a clear
message instead of surfacing later as a 500.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from .database_url import check_url
from .mlflow_settings import MlflowSettings, mlflow_settings

DEFAULT_STRATEGY = "certified"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class SettingsError(ValueError):
    """An environment variable holds a value the backend cannot use."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the backend reads from the environment.

    Attributes
    ----------
    pool_path : ``MODELPICKER_POOL``, the candidate pool YAML file (None = unset).
    model_dir : ``MODEL_DIR``, where the SQLite state file lives.
    database_url : ``DATABASE_URL``, ``postgresql://user:password@host:port/database``: the state lives in
        that PostgreSQL database instead of the SQLite file (None = unset).  Never shown whole (it holds
        a password): see :mod:`backend.database_url`.
    strategy : ``MODELPICKER_STRATEGY``; None = the default ("consensus", with
        a logged fallback while it is not registered).
    seed : ``MODELPICKER_SEED``, the strategy's ``random_state``.
    show_best : ``MODELPICKER_SHOW_BEST``; when true a prediction carries the
        current best candidate's answer instead of an empty result.
    label_studio_url, label_studio_api_key : ``LABEL_STUDIO_URL`` (or
        ``LABEL_STUDIO_HOST``) and ``LABEL_STUDIO_API_KEY``, for the calls back
        into Label Studio.
    basic_auth_user, basic_auth_pass : ``BASIC_AUTH_USER`` / ``BASIC_AUTH_PASS``;
        when set, every endpoint asks for HTTP basic auth (Label Studio sends
        it to ``/health``, ``/setup``, ``/predict`` when entered in the connect
        form, and to ``/webhook`` once the webhook carries the header, see
        :mod:`backend.webhook_auth`).
    allow_unauthenticated : ``MODELPICKER_ALLOW_UNAUTHENTICATED``; without
        credentials the backend serves loopback only (``HOST`` 127.0.0.1,
        localhost or ::1) unless this is true: anyone who can reach an
        unauthenticated backend decides which model gets deployed.
    allowed_hosts : ``MODELPICKER_ALLOWED_HOSTS``, comma-separated host names
        accepted in the ``Host`` header besides the defaults (see
        :func:`backend.request_limits.host_allowed`); ``("*",)`` = no check.
    log_level : ``LOG_LEVEL``.
    redis_url : ``REDIS_URL``; None = background work runs inline.
    redis_queue : ``RQ_QUEUE_NAME``.
    host, port : ``HOST`` / ``PORT`` for ``python -m backend`` (default
        127.0.0.1: this machine only; the Docker image sets 0.0.0.0 and then
        needs credentials).
    max_body_mb : ``MODELPICKER_MAX_BODY_MB``, the largest request body accepted
        (bigger ones get 413 before they are read into memory).
    refresh_every_labels, refresh_min_seconds : ``MODELPICKER_REFRESH_EVERY_LABELS``
        (N) and ``MODELPICKER_REFRESH_MIN_SECONDS`` (T): a queue refresh is due
        once N label changes arrived since the last one, or T seconds passed
        since the last one and at least one label changed (see :mod:`backend.debounce`).
    stop_rule : ``MODELPICKER_STOP_RULE``: ``certified`` (default: stop when a
        candidate is guaranteed at most ``epsilon`` below the best with
        probability ``1 - delta``) or ``belief`` (P(best) held for ``patience``
        labels: a belief, not a guarantee).
    epsilon, delta : ``MODELPICKER_EPSILON`` (default 0.01, accuracy units, 0
        allowed) and ``MODELPICKER_DELTA`` (default 0.05) of the certified stop.
    confidence, label_budget, min_labels : ``MODELPICKER_CONFIDENCE`` (stop
        when P(best) reaches it), ``MODELPICKER_LABEL_BUDGET`` (stop when a
        round has this many labels; None = no budget) and
        ``MODELPICKER_MIN_LABELS`` (never stop for confidence with fewer labels).
    patience : ``MODELPICKER_PATIENCE``; the pick's P(best) must have reached
        the confidence for this many consecutive labels (the first crossing of
        a noisy estimate is biased upwards; see :class:`modelpicker_core.stopping.StoppingRule`).
    writeback : ``MODELPICKER_WRITEBACK``; when true and Label Studio is
        configured, refreshes push priorities and write the ranking into the project.
    write_candidates : ``MODELPICKER_WRITE_CANDIDATES``; also store every
        candidate's predictions in Label Studio under ``model_version`` = its name.
    push_limit : ``MODELPICKER_PUSH_LIMIT``; k > 0 = push a priority only for
        the k tasks served first (default 100), 0 = for every unlabelled task.
        Every refresh deletes the previous push, and Label Studio on SQLite
        holds its write lock meanwhile (annotators' requests fail with "database
        is locked" after 5 s); k tasks keep that short.  Label Studio serves the
        pushed tasks in order, then at random if k labels arrive before the next
        refresh.
    priority_grace_seconds : ``MODELPICKER_PRIORITY_GRACE_SECONDS`` (default 30);
        a superseded priority version is deleted only this long after the queue
        left it, so a task someone opened from the data manager (where Label
        Studio attaches the shown prediction to the annotation) is not refused
        on submit because its prediction vanished.
    stop_queue : ``MODELPICKER_STOP_QUEUE`` (default true); on STOP the
        remaining tasks leave Label Studio's queue (annotators see "No More
        Tasks Left in Queue") and the labelling instructions say STOP; a
        reopened round puts them back.  False: Label Studio keeps serving tasks.
    sync_every_seconds : ``MODELPICKER_SYNC_EVERY_SECONDS`` (default 300, 0 =
        off); the web process mirrors every known project from Label Studio
        this often (``POST /sync``'s work), so a label whose webhook never
        arrived is counted anyway; /health shows each project's last sync.
    mlflow : ``MLFLOW_TRACKING_URI`` and the ``MODELPICKER_MLFLOW_*`` settings
        (:mod:`backend.mlflow_settings`): rounds as runs, the chosen model's alias.
    """

    pool_path: Path | None = None
    model_dir: Path = Path("model_dir")
    database_url: str | None = dataclasses.field(default=None, repr=False)
    strategy: str | None = None
    seed: int = 0
    show_best: bool = False
    label_studio_url: str | None = None
    label_studio_api_key: str | None = None
    basic_auth_user: str | None = None
    basic_auth_pass: str | None = None
    log_level: str = "INFO"
    redis_url: str | None = None
    redis_queue: str = "modelpicker"
    host: str = "127.0.0.1"
    port: int = 9090
    allow_unauthenticated: bool = False
    allowed_hosts: tuple[str, ...] = ()
    max_body_mb: int = 100
    refresh_every_labels: int = 1
    refresh_min_seconds: float = 2.0
    stop_rule: str = "certified"
    epsilon: float = 0.01
    delta: float = 0.05
    confidence: float = 0.95
    label_budget: int | None = None
    min_labels: int = 1
    patience: int = 3
    writeback: bool = True
    write_candidates: bool = False
    push_limit: int = 100
    priority_grace_seconds: float = 30.0
    stop_queue: bool = True
    sync_every_seconds: float = 300.0
    mlflow: MlflowSettings = MlflowSettings()

    @property
    def label_studio_configured(self) -> bool:
        """Both the address and the API key of Label Studio are set."""
        return bool(self.label_studio_url and self.label_studio_api_key)

    @property
    def db_path(self) -> Path:
        """The SQLite file holding all per-project state (unused when ``DATABASE_URL`` is set)."""
        return self.model_dir / "modelpicker.sqlite3"

    @property
    def auth_enabled(self) -> bool:
        return bool(self.basic_auth_user)

    @property
    def loopback_only(self) -> bool:
        """``HOST`` is a loopback address: only this machine can reach the server."""
        return is_loopback(self.host)


#: bind addresses only this machine can reach
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address) is reachable from this machine only."""
    import ipaddress

    host = (host or "").strip().lower()
    if host in LOOPBACK_HOSTS:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    # an IPv4 client of a dual-stack socket shows as ::ffff:127.0.0.1, which Python 3.11 does not call loopback
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def check_bind(settings: Settings, host: str | None = None) -> None:
    """:class:`SettingsError` when the server would listen beyond this machine without credentials.

    Anyone who can reach an unauthenticated backend can forge labels and so
    choose the deployed model; serving other machines needs
    ``BASIC_AUTH_USER``/``BASIC_AUTH_PASS`` or an explicit
    ``MODELPICKER_ALLOW_UNAUTHENTICATED=true``.
    """
    host = settings.host if host is None else host
    if settings.auth_enabled or settings.allow_unauthenticated or is_loopback(host):
        return
    raise SettingsError(
        f"refusing to listen on {host} without credentials: set BASIC_AUTH_USER and BASIC_AUTH_PASS "
        f"(and enter them in Label Studio), or HOST=127.0.0.1, or MODELPICKER_ALLOW_UNAUTHENTICATED=true "
        f"to serve other machines without authentication")


def _hosts(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = _text(env, name)
    if raw is None:
        return ()
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    for host in hosts:
        if host != "*" and (any(c in host for c in "/@ ?#") or not host.isascii()):
            raise SettingsError(f"{name} must list host names separated by commas (no scheme, path or port "
                                f"needed), got {host!r}")
    return hosts


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = _text(env, name)
    if raw is None:
        return default
    if raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _number(env: Mapping[str, str], name: str, convert: type[int] | type[float],
            kind: str) -> tuple[int | float | None, str | None]:
    """``name``'s value converted by ``convert`` and the text it was read from (both None when unset);
    :class:`SettingsError` saying it must be ``kind`` when it does not convert."""
    raw = _text(env, name)
    if raw is None:
        return None, None
    try:
        return convert(raw), raw
    except ValueError:
        raise SettingsError(f"{name} must be {kind}, got {raw!r}") from None


def _int(env: Mapping[str, str], name: str, default: int, low: int | None = None, high: int | None = None) -> int:
    value, _ = _number(env, name, int, "an integer")
    if value is None:
        return default
    if (low is not None and value < low) or (high is not None and value > high):
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float,
           open_ends: bool = False) -> float:
    value, raw = _number(env, name, float, "a number")
    if value is None:
        return default
    inside = low < value < high if open_ends else low <= value <= high
    if not inside:
        ends = f"strictly between {low} and {high}" if open_ends else f"between {low} and {high}"
        raise SettingsError(f"{name} must be {ends}, got {raw}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    raw = raw.strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {env.get(name)!r}")


def _database_url(env: Mapping[str, str]) -> str | None:
    raw = _text(env, "DATABASE_URL")
    if raw is None:
        return None
    try:
        return check_url(raw, "DATABASE_URL")
    except ValueError as exc:  # the message shows the URL without its password
        raise SettingsError(str(exc)) from None


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check :class:`Settings` from ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    log_level = (_text(env, "LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {env.get('LOG_LEVEL')!r}")
    user, password = _text(env, "BASIC_AUTH_USER"), env.get("BASIC_AUTH_PASS") or None
    if bool(user) != bool(password):
        raise SettingsError("BASIC_AUTH_USER and BASIC_AUTH_PASS must be set together")
    if user and ":" in user:
        raise SettingsError("BASIC_AUTH_USER must not contain ':'")
    redis_url = _text(env, "REDIS_URL")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {redis_url!r}")
    pool = _text(env, "MODELPICKER_POOL")
    return Settings(
        database_url=_database_url(env),
        pool_path=Path(pool).expanduser() if pool else None,
        model_dir=Path(_text(env, "MODEL_DIR") or "model_dir").expanduser(),
        strategy=_text(env, "MODELPICKER_STRATEGY"),
        seed=_int(env, "MODELPICKER_SEED", 0, 0, 2**32 - 1),
        show_best=_bool(env, "MODELPICKER_SHOW_BEST", False),
        label_studio_url=_text(env, "LABEL_STUDIO_URL") or _text(env, "LABEL_STUDIO_HOST"),
        label_studio_api_key=_text(env, "LABEL_STUDIO_API_KEY"),
        basic_auth_user=user,
        basic_auth_pass=password,
        log_level=log_level,
        redis_url=redis_url,
        redis_queue=_text(env, "RQ_QUEUE_NAME") or "modelpicker",
        host=_text(env, "HOST") or "127.0.0.1",
        allow_unauthenticated=_bool(env, "MODELPICKER_ALLOW_UNAUTHENTICATED", False),
        allowed_hosts=_hosts(env, "MODELPICKER_ALLOWED_HOSTS"),
        port=_int(env, "PORT", 9090, 1, 65535),
        max_body_mb=_int(env, "MODELPICKER_MAX_BODY_MB", 100, 1, 100_000),
        refresh_every_labels=_int(env, "MODELPICKER_REFRESH_EVERY_LABELS", 1, 1, 1_000_000),
        refresh_min_seconds=_float(env, "MODELPICKER_REFRESH_MIN_SECONDS", 2.0, 0.0, 86_400.0),
        stop_rule=_choice(env, "MODELPICKER_STOP_RULE", "certified", ("certified", "belief")),
        epsilon=_float(env, "MODELPICKER_EPSILON", 0.01, 0.0, 0.99),
        delta=_float(env, "MODELPICKER_DELTA", 0.05, 0.0, 1.0, open_ends=True),
        confidence=_float(env, "MODELPICKER_CONFIDENCE", 0.95, 0.0, 1.0, open_ends=True),
        label_budget=_int(env, "MODELPICKER_LABEL_BUDGET", 0, 1, 10**9) or None,
        min_labels=_int(env, "MODELPICKER_MIN_LABELS", 1, 0, 10**9),
        patience=_int(env, "MODELPICKER_PATIENCE", 3, 1, 1000),
        writeback=_bool(env, "MODELPICKER_WRITEBACK", True),
        write_candidates=_bool(env, "MODELPICKER_WRITE_CANDIDATES", False),
        push_limit=_int(env, "MODELPICKER_PUSH_LIMIT", 100, 0, 10**9),
        priority_grace_seconds=_float(env, "MODELPICKER_PRIORITY_GRACE_SECONDS", 30.0, 0.0, 86_400.0),
        stop_queue=_bool(env, "MODELPICKER_STOP_QUEUE", True),
        sync_every_seconds=_float(env, "MODELPICKER_SYNC_EVERY_SECONDS", 300.0, 0.0, 86_400.0),
        mlflow=mlflow_settings(env, _text, _bool, SettingsError),
    )


def resolve_strategy(requested: str | None, available: list[str]) -> str:
    """The registry name of the strategy to use: the requested one (``MODELPICKER_STRATEGY``) or
    :data:`DEFAULT_STRATEGY`; a :class:`SettingsError` naming the registered ones when it is not registered."""
    name = DEFAULT_STRATEGY if requested is None else requested
    if name not in available:
        raise SettingsError(f"MODELPICKER_STRATEGY={name!r} is not a registered strategy; "
                            f"available: {', '.join(available) or 'none'}")
    return name
