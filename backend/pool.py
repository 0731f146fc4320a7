"""The candidate pool: one YAML file naming the pre-trained models to choose from.

Format (paths are relative to the YAML file's directory)::

    data_field: image              # task data field fed to models / used as key (default for every source)
    candidates:
      - name: logreg_small
        source: {type: predictions, path: preds/logreg.csv, key_field: id, key_column: id, label_column: label}
        labels: {"0": zero, "1": one}      # model output -> Choice value
      - name: svc
        source: {type: sklearn, path: models/svc.joblib, field: image}
      - name: remote
        source: {type: http, url: "http://127.0.0.1:8000/predict", timeout: 5, retries: 2}
      - name: fn
        source: {type: callable, target: "mypkg.mod:predict"}

Each source turns a list of task data values into a list of raw outputs; the
candidate's ``labels`` map (identity when absent) turns an output into one of
the project's Choice values.  Every error names the candidate and the field.
"""
from __future__ import annotations

import abc
import csv
import dataclasses
import hashlib
import importlib
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .labelconfig import ChoicesControl
from .redact import redact_text

logger = logging.getLogger(__name__)

SOURCE_TYPES = ("predictions", "sklearn", "http", "callable")


class PoolError(ValueError):
    """The pool file, or its fit to the project's label config, is unusable.

    ``errors`` lists every problem found, each naming the candidate and field.
    """

    def __init__(self, errors: list[str] | str):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("; ".join(self.errors))


class SourceError(RuntimeError):
    """A source could not produce outputs; ``index`` is the offending input, if known."""

    def __init__(self, message: str, index: int | None = None):
        self.index = index
        super().__init__(message)


class PredictionError(RuntimeError):
    """A candidate's prediction for a task is missing or maps to no Choice.

    The message names the candidate, the task and the value.
    """


def output_key(value: Any) -> str:
    """The string a raw model output is looked up by in a ``labels`` map.

    NumPy scalars become Python scalars; integral numbers are written without
    a decimal point, so ``3``, ``np.int64(3)``, ``3.0`` and ``"3"`` are one key.
    """
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- sources
class Source(abc.ABC):
    """Turns task data values into raw model outputs.

    Attributes
    ----------
    field : the task data field whose value is fed to the model (or used as
        the lookup key of a predictions file).
    """

    type: str = ""

    def __init__(self, field: str):
        self.field = field

    @abc.abstractmethod
    def predict(self, values: list[Any]) -> list[Any]:
        """``(n,)`` raw outputs for ``(n,)`` input values, in order."""

    def known_outputs(self) -> set[str] | None:
        """Every output the source can produce, when knowable up front."""
        return None


class PredictionsFileSource(Source):
    """Precomputed predictions in a CSV or JSONL file, looked up by a task data field.

    Parameters
    ----------
    path : the file; ``.csv`` or ``.jsonl`` (or set ``format``).
    field : task data field holding the key (``key_field`` in the YAML).
    key_column : file column holding the key (default: the key field's name).
    label_column : file column holding the model's output (default ``label``).
    """

    type = "predictions"

    def __init__(self, path: Path, field: str, key_column: str, label_column: str, fmt: str):
        super().__init__(field)
        self.path, self.key_column, self.label_column, self.format = path, key_column, label_column, fmt
        self.table_ = self._load()

    def _rows(self):
        with open(self.path, newline="", encoding="utf-8") as fh:
            if self.format == "csv":
                reader = csv.DictReader(fh)
                for name in (self.key_column, self.label_column):
                    if name not in (reader.fieldnames or []):
                        raise PoolError(f"column {name!r} is not in {self.path.name} "
                                        f"(columns: {', '.join(reader.fieldnames or [])})")
                yield from enumerate(reader, start=2)
            else:
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise PoolError(f"{self.path.name} line {lineno} is not JSON: {exc.msg}") from None
                    if not isinstance(row, dict):
                        raise PoolError(f"{self.path.name} line {lineno} is not a JSON object")
                    yield lineno, row

    def _load(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for lineno, row in self._rows():
            for name in (self.key_column, self.label_column):
                if row.get(name) is None or row.get(name) == "":
                    raise PoolError(f"{self.path.name} line {lineno} has no value in column {name!r}")
            key, out = output_key(row[self.key_column]), output_key(row[self.label_column])
            if table.get(key, out) != out:
                raise PoolError(f"{self.path.name} line {lineno}: key {key!r} appears twice with different outputs")
            table[key] = out
        return table

    def predict(self, values: list[Any]) -> list[Any]:
        out = []
        for i, value in enumerate(values):
            key = output_key(value)
            if key not in self.table_:
                raise SourceError(f"no row with {self.key_column}={key!r} in {self.path.name}", index=i)
            out.append(self.table_[key])
        return out

    def known_outputs(self) -> set[str]:
        return set(self.table_.values())


class SklearnSource(Source):
    """A fitted scikit-learn estimator or pipeline saved with joblib.

    ``predict`` is called once per batch with the list of field values (for
    example a list of texts, or of feature vectors).  Loading runs the pickle,
    so the file must come from a trusted place.
    """

    type = "sklearn"

    def __init__(self, path: Path, field: str):
        super().__init__(field)
        import joblib

        self.path = path
        try:
            self.model_ = joblib.load(path)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a config error
            raise PoolError(f"cannot load {path.name} with joblib: {type(exc).__name__}: {exc}") from None
        if not callable(getattr(self.model_, "predict", None)):
            raise PoolError(f"{path.name} holds a {type(self.model_).__name__}, which has no predict method")

    def predict(self, values: list[Any]) -> list[Any]:
        try:
            return list(self.model_.predict(values))
        except Exception as exc:  # noqa: BLE001 - the model's own error, reported with the candidate
            raise SourceError(f"predict failed: {type(exc).__name__}: {exc}") from None

    def known_outputs(self) -> set[str] | None:
        classes = getattr(self.model_, "classes_", None)
        return None if classes is None else {output_key(c) for c in classes}


class HttpSource(Source):
    """A model behind an HTTP endpoint, JSON in and out.

    Request: ``POST url`` with ``{"inputs": [value, ...]}``; response:
    ``{"predictions": [output, ...]}`` of the same length.  Connection errors,
    timeouts and 5xx answers are retried ``retries`` times (short linear
    back-off); a 4xx answer or a malformed body is not.
    """

    type = "http"

    def __init__(self, url: str, field: str, timeout: float, retries: int, headers: dict[str, str]):
        super().__init__(field)
        self.url, self.timeout, self.retries, self.headers = url, timeout, retries, headers
        #: the URL as messages show it: no user or password
        self.shown_url = redact_text(url)

    def _post(self, values: list[Any]):
        import requests

        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.1 * attempt, 1.0))
            try:
                response = requests.post(self.url, json={"inputs": values}, timeout=self.timeout,
                                         headers=self.headers)
            except requests.Timeout:
                last = f"no answer from {self.shown_url} within {self.timeout} s"
                continue
            except requests.RequestException as exc:
                last = f"cannot reach {self.shown_url}: {type(exc).__name__}"
                continue
            if response.status_code >= 500:
                last = f"{self.shown_url} answered HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise SourceError(f"{self.shown_url} answered HTTP {response.status_code}: {response.text[:200]}")
            return response
        raise SourceError(f"{last} (after {self.retries + 1} attempts)")

    def predict(self, values: list[Any]) -> list[Any]:
        response = self._post(values)
        try:
            body = response.json()
        except ValueError:
            raise SourceError(f"{self.shown_url} did not answer JSON") from None
        predictions = body.get("predictions") if isinstance(body, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(values):
            raise SourceError(f"{self.shown_url} must answer {{\"predictions\": [...]}} with {len(values)} items")
        return predictions


class CallableSource(Source):
    """A Python function ``module:function`` taking a list of values, returning a list of outputs."""

    type = "callable"

    def __init__(self, target: str, field: str, search_dir: Path):
        super().__init__(field)
        self.target = target
        self.function_ = _import_target(target, search_dir)

    def predict(self, values: list[Any]) -> list[Any]:
        try:
            out = list(self.function_(list(values)))
        except Exception as exc:  # noqa: BLE001 - the user's function failed; report it with the candidate
            raise SourceError(f"{self.target} raised {type(exc).__name__}: {exc}") from None
        if len(out) != len(values):
            raise SourceError(f"{self.target} returned {len(out)} outputs for {len(values)} inputs")
        return out


def _import_target(target: str, search_dir: Path) -> Callable:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise PoolError(f"{target!r} must look like 'package.module:function'")
    sys.path.insert(0, str(search_dir))  # lets a pool file ship its own module next to it
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - import errors of user code are config errors
        raise PoolError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(search_dir))
    function = getattr(module, attr, None)
    if not callable(function):
        raise PoolError(f"{module_name!r} has no callable {attr!r}")
    return function


# ------------------------------------------------------------------------ candidates
@dataclasses.dataclass
class Candidate:
    """One model of the pool.

    Attributes
    ----------
    name : unique name, shown in the ranking.
    source : where its outputs come from.
    labels : raw output (as :func:`output_key`) -> Choice value; None means
        the outputs already are Choice values.
    cache_key : ``<name>@<hash>`` naming the cached predictions; the hash
        covers the candidate's YAML entry and the bytes of its predictions or
        model file, so editing either makes the backend predict afresh.
    """

    name: str
    source: Source
    labels: dict[str, str] | None = None
    cache_key: str = ""

    def choice_for(self, output: Any, task_id: Any, choices: ChoicesControl) -> str:
        """The Choice value of one raw output; :class:`PredictionError` if there is none."""
        key = output_key(output)
        value = key if self.labels is None else self.labels.get(key)
        if value is None:
            raise PredictionError(f"candidate {self.name!r}: task {task_id}: output {key!r} is not in its labels map")
        if value not in choices:
            raise PredictionError(f"candidate {self.name!r}: task {task_id}: output {key!r} maps to {value!r}, "
                                  f"which is not a Choice of {choices.name!r}")
        return choices.canonical(value)

    def predict_tasks(self, tasks: list[dict], choices: ChoicesControl) -> list[str]:
        """Choice values ``(n_tasks,)`` for Label Studio tasks ``{"id", "data"}``."""
        values = []
        for task in tasks:
            data = task.get("data") or {}
            if self.source.field not in data:
                raise PredictionError(f"candidate {self.name!r}: task {task.get('id')}: "
                                      f"task data has no field {self.source.field!r}")
            values.append(data[self.source.field])
        try:
            outputs = self.source.predict(values)
        except SourceError as exc:
            where = f"task {tasks[exc.index].get('id')}: " if exc.index is not None else \
                f"tasks {[t.get('id') for t in tasks][:10]}: "
            raise PredictionError(f"candidate {self.name!r}: {where}{exc}") from None
        return [self.choice_for(out, task.get("id"), choices) for out, task in zip(outputs, tasks)]


@dataclasses.dataclass
class Pool:
    """The candidates, in file order (column ``j`` of the prediction matrix is ``candidates[j]``).

    Attributes
    ----------
    path : the YAML file.
    candidates : the models.
    """

    path: Path
    candidates: list[Candidate]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.candidates]

    @property
    def cache_keys(self) -> list[str]:
        return [c.cache_key for c in self.candidates]

    @property
    def fingerprint(self) -> str:
        """Short hash of every candidate's cache key; part of the priority version."""
        return hashlib.sha256("|".join(self.cache_keys).encode()).hexdigest()[:12]

    def check(self, choices: ChoicesControl) -> None:
        """Check every mapped and every known output against the project's Choices.

        Raises :class:`PoolError` listing each candidate/field that does not fit.
        """
        errors = []
        shown = ", ".join(repr(v) for v in choices.values)
        for cand in self.candidates:
            for out, value in (cand.labels or {}).items():
                if value not in choices:
                    errors.append(f"candidate {cand.name!r}: labels[{out!r}]: {value!r} is not a Choice of "
                                  f"{choices.name!r} (Choices: {shown})")
            known = cand.source.known_outputs()
            for out in sorted(known or ()):
                if cand.labels is not None and out not in cand.labels:
                    errors.append(f"candidate {cand.name!r}: labels: the model can output {out!r}, "
                                  f"which the map does not cover")
                elif cand.labels is None and out not in choices:
                    errors.append(f"candidate {cand.name!r}: labels: output {out!r} is not a Choice of "
                                  f"{choices.name!r} and there is no labels map (Choices: {shown})")
        if errors:
            raise PoolError(errors)


# --------------------------------------------------------------------------- loading
_POOL_KEYS = {"data_field", "candidates"}
_CANDIDATE_KEYS = {"name", "source", "labels"}
_SOURCE_KEYS = {
    "predictions": {"type", "path", "format", "key_field", "key_column", "label_column"},
    "sklearn": {"type", "path", "field"},
    "http": {"type", "url", "field", "timeout", "retries", "headers"},
    "callable": {"type", "target", "field"},
}


def load_pool(path: str | Path) -> Pool:
    """Read and check the pool YAML; build every source (files are read, models loaded).

    Raises :class:`PoolError` listing every problem, each naming candidate and field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PoolError(f"pool file {path}: cannot read: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PoolError(f"pool file {path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise PoolError(f"pool file {path}: must be a mapping with a 'candidates' list")
    errors = [f"pool file {path}: {key}: unknown field" for key in sorted(set(doc) - _POOL_KEYS)]
    default_field = doc.get("data_field")
    if default_field is not None and not (isinstance(default_field, str) and default_field):
        errors.append(f"pool file {path}: data_field: must be a non-empty string")
        default_field = None
    entries = doc.get("candidates")
    if not isinstance(entries, list) or not entries:
        raise PoolError(errors + [f"pool file {path}: candidates: must be a non-empty list"])
    candidates, seen = [], set()
    for i, entry in enumerate(entries):
        label = f"candidate #{i + 1}"
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"].strip():
            label = f"candidate {entry['name']!r}"
        try:
            cand = _candidate(entry, label, default_field, path.parent)
        except PoolError as exc:
            errors.extend(exc.errors)
            continue
        if cand.name in seen:
            errors.append(f"{label}: name: used by more than one candidate")
        seen.add(cand.name)
        candidates.append(cand)
    if errors:
        raise PoolError(errors)
    return Pool(path=path, candidates=candidates)


def _candidate(entry: Any, label: str, default_field: str | None, base: Path) -> Candidate:
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
            built = _source(source, label, default_field, base)
        except PoolError as exc:
            errors.extend(exc.errors)
    if errors:
        raise PoolError(errors)
    digest = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode())
    model_file = getattr(built, "path", None)
    if model_file is not None:
        with open(model_file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return Candidate(name=name.strip(), source=built, labels=labels,
                     cache_key=f"{name.strip()}@{digest.hexdigest()[:10]}")


def _source(spec: dict, label: str, default_field: str | None, base: Path) -> Source:
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
        return wrap(lambda: PredictionsFileSource(file, key_field, text("key_column", key_field),
                                                  text("label_column", "label"), fmt), "path")
    if kind == "sklearn":
        file = existing("path")
        field = text("field", default_field)
        return wrap(lambda: SklearnSource(file, field), "path")
    if kind == "http":
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
    target = text("target")
    field = text("field", default_field)
    return wrap(lambda: CallableSource(target, field, base), "target")
