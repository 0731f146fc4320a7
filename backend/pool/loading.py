"""Reading the pool YAML: every field checked, every source built, every problem named with its candidate."""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..mlflow_client import Mlflow, MlflowUnavailable
from ..redact import redact_text
from . import mlflow_source
from .candidates import Candidate, Pool
from .errors import PoolError, parse_mapping
from .sources import (
    SOURCE_TYPES,
    CallableSource,
    HttpSource,
    KeyIndex,
    PredictionsFileSource,
    SklearnSource,
    Source,
    output_key,
)

logger = logging.getLogger(__name__)

_POOL_KEYS = {"data_field", "candidates"}
_CANDIDATE_KEYS = {"name", "source", "labels"}
_SOURCE_KEYS = {
    "predictions": {"type", "path", "format", "key_field", "key_column", "label_column"},
    "sklearn": {"type", "path", "field"},
    "http": {"type", "url", "field", "timeout", "retries", "headers"},
    "callable": {"type", "target", "field"},
    "mlflow": {"type", "model_uri", "registered_model", "version_filter", "name_tag", "field"},
}


def load_pool(path: str | Path) -> Pool:
    """Read and check the pool YAML; build every source (files are read, models loaded).

    Raises :class:`PoolError` listing every problem, each naming candidate and field.  An ``mlflow``
    candidate the registry cannot give (server down, version missing, model failing to load) is not a
    problem of the file: it is listed in ``Pool.unavailable`` and the others make the pool; only when no
    candidate at all is left is that an error.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PoolError(f"pool file {path}: cannot read: {exc.strerror or exc}") from None
    doc = parse_mapping(yaml.safe_load, text, yaml.YAMLError, f"pool file {path}: ",
                        lambda exc: f"not valid YAML: {exc}", "must be a mapping with a 'candidates' list")
    errors = [f"pool file {path}: {key}: unknown field" for key in sorted(set(doc) - _POOL_KEYS)]
    default_field = doc.get("data_field")
    if default_field is not None and not (isinstance(default_field, str) and default_field):
        errors.append(f"pool file {path}: data_field: must be a non-empty string")
        default_field = None
    entries = doc.get("candidates")
    if not isinstance(entries, list) or not entries:
        raise PoolError(errors + [f"pool file {path}: candidates: must be a non-empty list"])
    candidates, seen, unavailable = [], set(), []
    key_indexes: dict[str, KeyIndex] = {}  # one per key field, shared by the predictions files using it
    for i, entry in enumerate(entries):
        label = f"candidate #{i + 1}"
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"].strip():
            label = f"candidate {entry['name']!r}"
        try:
            built, missing = _candidates(entry, label, default_field, path.parent, key_indexes)
        except PoolError as exc:
            errors.extend(exc.errors)
            continue
        unavailable.extend(missing)
        for u in missing:  # also in /health (pool.unavailable); the other candidates make the pool
            logger.error("candidate %r (%s) is unavailable: %s", u["candidate"], u["source"], redact_text(u["error"]))
        for cand in built:
            if cand.name in seen:
                errors.append(f"candidate {cand.name!r}: name: used by more than one candidate")
            seen.add(cand.name)
            candidates.append(cand)
    if errors:
        raise PoolError(errors)
    if not candidates:
        raise PoolError([f"pool file {path}: no candidate is available"]
                        + [f"candidate {u['candidate']!r}: {u['error']}" for u in unavailable])
    return Pool(path=path, candidates=candidates, unavailable=unavailable)


def _candidates(entry: Any, label: str, default_field: str | None, base: Path,
                key_indexes: dict[str, KeyIndex]) -> tuple[list[Candidate], list[dict]]:
    """The candidates of one pool entry (one, or an ``mlflow`` registered model's versions) and the
    unavailable ones ``{"candidate", "source", "error"}``; :class:`PoolError` for a bad entry."""
    if not isinstance(entry, dict):
        raise PoolError(f"{label}: must be a mapping with name, source and labels")
    errors = [f"{label}: {key}: unknown field" for key in sorted(set(entry) - _CANDIDATE_KEYS)]
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(f"{label}: name: must be a non-empty string")
    labels = entry.get("labels")
    if labels is not None:
        if not isinstance(labels, dict) or not labels:
            errors.append(f"{label}: labels: must be a non-empty mapping from model output to Choice value")
            labels = None
        else:
            bad = [k for k, v in labels.items() if not isinstance(v, str)]
            if bad:
                errors.append(f"{label}: labels[{output_key(bad[0])!r}]: Choice value must be a string")
            labels = {output_key(k): v for k, v in labels.items() if isinstance(v, str)}
    source = entry.get("source")
    if not isinstance(source, dict):
        errors.append(f"{label}: source: must be a mapping with a type "
                      f"({', '.join(SOURCE_TYPES)})")
    else:
        try:
            built = (_mlflow_field(source, label, default_field) if source.get("type") == "mlflow"
                     else _source(source, label, default_field, base, key_indexes))
        except PoolError as exc:
            errors.extend(exc.errors)
    if errors:
        raise PoolError(errors)
    if isinstance(built, str):
        return _mlflow_candidates(entry, name.strip(), built, labels)
    digest = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode())
    model_file = getattr(built, "path", None)
    if model_file is not None:
        with open(model_file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return [Candidate(name=name.strip(), source=built, labels=labels,
                      cache_key=f"{name.strip()}@{digest.hexdigest()[:10]}")], []


def _mlflow_field(spec: dict, label: str, default_field: str | None) -> str:
    """Check an ``mlflow`` source entry (no registry call yet); returns the task data field it reads."""
    errors = [f"{label}: source.{key}: unknown field for a mlflow source"
              for key in sorted(set(spec) - _SOURCE_KEYS["mlflow"])]
    uri, model = spec.get("model_uri"), spec.get("registered_model")
    if (uri is None) == (model is None):
        errors.append(f"{label}: source: give either model_uri (models:/<name>/<version> or models:/<name>@<alias>) "
                      f"or registered_model (every version, optionally filtered)")
    elif uri is not None:
        try:
            mlflow_source.parse_model_uri(uri if isinstance(uri, str) else repr(uri))
        except PoolError as exc:
            errors.append(f"{label}: source.model_uri: {exc}")
        if spec.get("version_filter") is not None or spec.get("name_tag") is not None:
            errors.append(f"{label}: source: version_filter and name_tag go with registered_model, not model_uri")
    for key in ("registered_model", "version_filter", "name_tag"):
        if spec.get(key) is not None and not (isinstance(spec[key], str) and spec[key].strip()):
            errors.append(f"{label}: source.{key}: must be a non-empty string")
    field = spec.get("field", default_field)
    if not isinstance(field, str) or not field.strip():
        errors.append(f"{label}: source.field: must be a non-empty string (or set data_field at the top of the "
                      f"pool file)")
    if errors:
        raise PoolError(errors)
    return field.strip()


def _mlflow_candidates(entry: dict, name: str, field: str,
                       labels: dict[str, str] | None) -> tuple[list[Candidate], list[dict]]:
    """Ask the registry for the entry's versions and load each; what fails is listed, not raised."""
    spec, registry = entry["source"], Mlflow()  # MLFLOW_TRACKING_URI, as MLflow's loader reads it
    try:
        pairs = mlflow_source.resolve(spec, name, registry)
    except MlflowUnavailable as exc:
        shown = spec.get("model_uri") or f"registered model {spec.get('registered_model')!r}"
        return [], [{"candidate": name, "source": shown, "error": str(exc)}]
    built, missing = [], []
    for cname, version in pairs:
        try:
            source = mlflow_source.MlflowSource(version, field, registry)
        except MlflowUnavailable as exc:
            missing.append({"candidate": cname, "source": version.uri, "error": str(exc)})
            continue
        digest = hashlib.sha256(json.dumps([entry, version.uri], sort_keys=True, default=str).encode())
        built.append(Candidate(name=cname, source=source, labels=labels,
                               cache_key=f"{cname}@{digest.hexdigest()[:10]}"))
    return built, missing


def _source(spec: dict, label: str, default_field: str | None, base: Path,
            key_indexes: dict[str, KeyIndex]) -> Source:
    kind = spec.get("type")
    if kind not in SOURCE_TYPES:
        raise PoolError(f"{label}: source.type: must be one of {', '.join(SOURCE_TYPES)}, got {kind!r}")
    unknown = sorted(set(spec) - _SOURCE_KEYS[kind])
    if unknown:
        raise PoolError([f"{label}: source.{key}: unknown field for a {kind} source" for key in unknown])

    def text(key: str, default: str | None = None) -> str:
        value = spec.get(key, default)
        if not isinstance(value, str) or not value.strip():
            hint = " (or set data_field at the top of the pool file)" if key in ("field", "key_field") else ""
            raise PoolError(f"{label}: source.{key}: must be a non-empty string{hint}")
        return value.strip()

    def existing(key: str) -> Path:
        p = Path(text(key)).expanduser()
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            raise PoolError(f"{label}: source.{key}: file not found: {p}")
        return p

    def wrap(build: Callable[[], Source], key: str) -> Source:
        try:
            return build()
        except PoolError as exc:
            raise PoolError([f"{label}: source.{key}: {e}" for e in exc.errors]) from None

    if kind == "predictions":
        file = existing("path")
        fmt = spec.get("format") or file.suffix.lower().lstrip(".")
        if fmt not in ("csv", "jsonl"):
            raise PoolError(f"{label}: source.format: must be csv or jsonl (from the file name or "
                            f"'format'), got {fmt!r}")
        key_field = text("key_field", default_field)
        keys = key_indexes.setdefault(key_field, KeyIndex())
        return wrap(lambda: PredictionsFileSource(file, key_field, text("key_column", key_field),
                                                  text("label_column", "label"), fmt, keys), "path")
    if kind == "sklearn":
        file = existing("path")
        field = text("field", default_field)
        return wrap(lambda: SklearnSource(file, field), "path")
    if kind == "http":
        return _http_source(spec, label, text, default_field)
    target = text("target")
    field = text("field", default_field)
    return wrap(lambda: CallableSource(target, field, base), "target")


def _http_source(spec: dict, label: str, text: Callable[..., str], default_field: str | None) -> HttpSource:
    """The ``http`` source of ``spec``; ``text(key, default)`` reads a non-empty string field."""
    url = text("url")
    if not url.startswith(("http://", "https://")):
        raise PoolError(f"{label}: source.url: must start with http:// or https://, got {redact_text(url)!r}")
    timeout = spec.get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise PoolError(f"{label}: source.timeout: must be a number of seconds > 0, got {timeout!r}")
    retries = spec.get("retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise PoolError(f"{label}: source.retries: must be an integer from 0 to 10, got {retries!r}")
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise PoolError(f"{label}: source.headers: must be a mapping of header name to string")
    return HttpSource(url, text("field", default_field), float(timeout), retries,
                      {str(k): v for k, v in headers.items()})
