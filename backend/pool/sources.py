"""Where a candidate's raw outputs come from: a predictions file, a scikit-learn model, an HTTP model server,
a Python function (and, in :mod:`~backend.pool.mlflow_source`, the MLflow Model Registry).  Each source turns
a list of task data values into a list of raw outputs."""
from __future__ import annotations

import abc
import csv
import importlib
import json
import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..redact import redact_text
from .errors import PoolError, SourceError

SOURCE_TYPES = ("predictions", "sklearn", "http", "callable", "mlflow")


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


class KeyIndex:
    """Row numbers of lookup keys, shared by the predictions files of one pool that use the same key field.

    A pool of 100 candidates over 100,000 tasks holds one copy of the keys
    instead of 100 dictionaries of 100,000 strings each (1.65 GB per process;
    each candidate's answers are then one array of 4-byte codes).
    """

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}

    def row(self, key: str) -> int:
        """The row of ``key``, numbered when first seen."""
        return self.rows.setdefault(key, len(self.rows))

    def get(self, key: str) -> int | None:
        return self.rows.get(key)


class PredictionsFileSource(Source):
    """Precomputed predictions in a CSV or JSONL file, looked up by a task data field.

    Parameters
    ----------
    path : the file; ``.csv`` or ``.jsonl`` (or set ``format``).
    field : task data field holding the key (``key_field`` in the YAML).
    key_column : file column holding the key (default: the key field's name).
    label_column : file column holding the model's output (default ``label``).
    keys : the pool's shared :class:`KeyIndex` for ``field`` (a private one when None).

    Attributes
    ----------
    outputs_ : the distinct outputs, in order of first appearance.
    codes_ : ``(n_keys,)`` int32, the index in ``outputs_`` of each key row's output; -1 where the file has none.
    """

    type = "predictions"

    def __init__(self, path: Path, field: str, key_column: str, label_column: str, fmt: str,
                 keys: KeyIndex | None = None):
        super().__init__(field)
        self.path, self.key_column, self.label_column, self.format = path, key_column, label_column, fmt
        self.keys_ = keys if keys is not None else KeyIndex()
        self.outputs_: list[str] = []
        self.codes_ = self._load()

    def _rows(self):
        """``(line number, key, output)`` per row of the file, key and output as found (None when absent)."""
        with open(self.path, newline="", encoding="utf-8") as fh:
            if self.format == "csv":
                reader = csv.reader(fh)  # lists, not a dict per row: a pool can hold 10,000,000 rows
                header = next(reader, [])
                for name in (self.key_column, self.label_column):
                    if name not in header:
                        raise PoolError(f"column {name!r} is not in {self.path.name} (columns: {', '.join(header)})")
                k, v = header.index(self.key_column), header.index(self.label_column)
                for lineno, row in enumerate(reader, start=2):
                    if row:
                        yield lineno, row[k] if k < len(row) else None, row[v] if v < len(row) else None
            else:
                decode = json.JSONDecoder().decode
                for lineno, line in enumerate(fh, start=1):
                    try:
                        row = decode(line)
                    except json.JSONDecodeError as exc:
                        if not line.strip():
                            continue
                        raise PoolError(f"{self.path.name} line {lineno} is not JSON: {exc.msg}") from None
                    if not isinstance(row, dict):
                        raise PoolError(f"{self.path.name} line {lineno} is not a JSON object")
                    yield lineno, row.get(self.key_column), row.get(self.label_column)

    def _load(self) -> array:
        codes, code_of, outputs = array("i"), {}, self.outputs_
        rows, row_of = self.keys_.rows, self.keys_.row
        for lineno, raw_key, raw_out in self._rows():
            for name, value in ((self.key_column, raw_key), (self.label_column, raw_out)):
                if value is None or value == "":
                    raise PoolError(f"{self.path.name} line {lineno} has no value in column {name!r}")
            key = raw_key if type(raw_key) is str else output_key(raw_key)
            out = raw_out if type(raw_out) is str else output_key(raw_out)
            code = code_of.get(out)
            if code is None:
                code = code_of[out] = len(outputs)
                outputs.append(out)
            at = rows.get(key)
            if at is None:
                at = row_of(key)
            if at >= len(codes):
                codes.extend([-1] * (at + 1 - len(codes)))
            if codes[at] not in (-1, code):
                raise PoolError(f"{self.path.name} line {lineno}: key {key!r} appears twice with different outputs")
            codes[at] = code
        return codes

    def lookup(self, key: str) -> str | None:
        """The output the file gives for ``key`` (as :func:`output_key`), None when it has no row for it."""
        at = self.keys_.get(key)
        code = self.codes_[at] if at is not None and at < len(self.codes_) else -1
        return None if code < 0 else self.outputs_[code]

    def predict(self, values: list[Any]) -> list[Any]:
        out = []
        for i, value in enumerate(values):
            key = output_key(value)
            found = self.lookup(key)
            if found is None:
                raise SourceError(f"no row with {self.key_column}={key!r} in {self.path.name}", index=i)
            out.append(found)
        return out

    def known_outputs(self) -> set[str]:
        return set(self.outputs_)


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
