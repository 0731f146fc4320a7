"""Candidates from the MLflow Model Registry, loaded with MLflow's own ``pyfunc`` loader.

Two forms of a pool entry (the tracking/registry URI is the standard ``MLFLOW_TRACKING_URI``)::

    - name: svc                 # one registered version, by number or by alias
      source: {type: mlflow, model_uri: "models:/digits/3", field: pixels}
    - name: digits              # every version of a registered model that passes a filter
      source: {type: mlflow, registered_model: digits, version_filter: "tags.candidate = 'true'",
               name_tag: candidate_name}

The second form becomes one candidate per version, named by the version's
``name_tag`` tag when it has one, else ``<name>/v<version>``.  An alias is
resolved to its version when the pool loads, and the candidate's cache key
names that version: when the alias moves, the backend predicts afresh.

A registry that cannot be reached, a missing version or alias, or a model
whose flavour fails to load makes those candidates *unavailable*
(:class:`~backend.mlflow_client.MlflowUnavailable`): the pool loader lists
them (``/health`` ``pool.unavailable``, and the log) and the other candidates
work on.
"""
from __future__ import annotations

import re
from typing import Any

from ..mlflow_client import Mlflow, MlflowUnavailable, ModelVersion, raw_model
from .errors import PoolError, SourceError
from .sources import Source, output_key

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w\-]+))$")


class MlflowSource(Source):
    """One registered model version, loaded with ``mlflow.pyfunc.load_model``.

    ``predict`` gets the tasks' field values as one batch: a 2-D NumPy array
    when every value is a list of numbers (feature vectors), else the list as
    it is (texts, records).  Loading unpickles the model: the registry must be
    trusted like a ``sklearn`` source's file.

    Attributes
    ----------
    version : the registered version (``name``, ``version``, ``tags``).
    model_uri : ``models:/<name>/<version>``, immutable.
    """

    type = "mlflow"

    def __init__(self, version: ModelVersion, field: str, registry: Mlflow | None = None):
        super().__init__(field)
        self.version = version
        self.model_uri = version.uri
        self.model_ = (registry or Mlflow()).load_pyfunc(self.model_uri)

    def predict(self, values: list[Any]) -> list[Any]:
        try:
            out = self.model_.predict(_model_input(values))
        except Exception as exc:  # noqa: BLE001 - the model's own error, reported with the candidate
            raise SourceError(f"{self.model_uri} predict failed: {type(exc).__name__}: {exc}") from None
        out = _as_list(out)
        if len(out) != len(values):
            raise SourceError(f"{self.model_uri} returned {len(out)} outputs for {len(values)} inputs")
        return out

    def known_outputs(self) -> set[str] | None:
        classes = getattr(raw_model(self.model_), "classes_", None)
        return None if classes is None else {output_key(c) for c in classes}


def _model_input(values: list[Any]) -> Any:
    """Feature vectors as a 2-D array (what a scikit-learn pyfunc expects); anything else unchanged."""
    import numpy as np

    if values and all(isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) and
                                                                  not isinstance(x, bool) for x in v)
                      for v in values):
        return np.asarray(values, dtype=float)
    return list(values)


def _as_list(out: Any) -> list[Any]:
    """A pyfunc answer (ndarray, pandas Series or one-column DataFrame, list) as a flat list."""
    if hasattr(out, "columns") and hasattr(out, "iloc"):  # a DataFrame: its first column
        out = out.iloc[:, 0]
    if hasattr(out, "tolist"):
        out = out.tolist()
    return [v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v for v in list(out)]


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(registered model, version, alias)`` of ``models:/<name>/<version>`` or ``models:/<name>@<alias>``."""
    match = _MODELS_URI.match(uri.strip())
    if not match:
        raise PoolError(f"must look like models:/<registered model>/<version> or models:/<registered model>@<alias>, "
                        f"got {uri!r}")
    return match["name"], match["version"], match["alias"]


def resolve(spec: dict, name: str, registry: Mlflow) -> list[tuple[str, ModelVersion]]:
    """``(candidate name, registered version)`` pairs an ``mlflow`` source entry stands for.

    Raises :class:`MlflowUnavailable` when the registry cannot answer (the entry is then unavailable).
    """
    if spec.get("model_uri") is not None:
        model, version, alias = parse_model_uri(spec["model_uri"])
        found = registry.get_version(model, version) if version else registry.version_by_alias(model, alias)
        return [(name, found)]
    model = spec["registered_model"]
    versions = registry.search_versions(model, spec.get("version_filter"))
    if not versions:
        raise MlflowUnavailable(f"registered model {model!r}: no version matches "
                                f"{spec.get('version_filter') or 'any filter'}")
    tag = spec.get("name_tag")
    return [((v.tags.get(tag) if tag and v.tags.get(tag) else f"{name}/v{v.version}"), v) for v in versions]

