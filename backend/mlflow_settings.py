"""The MLflow settings: whether rounds become runs and decisions registry aliases, and under which names.

Tracking is on when ``MLFLOW_TRACKING_URI`` (MLflow's own variable) is set,
unless ``MODELPICKER_MLFLOW_TRACKING=false``; without it nothing is written to
MLflow (an ``mlflow`` pool source still reads the registry the URI names).
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

#: an alias MLflow accepts and that cannot be read as a version (``v3``) or MLflow's ``latest``
_ALIAS = re.compile(r"^(?!latest$)(?![vV]\d+$)[A-Za-z_][\w\-]{0,254}$")


@dataclasses.dataclass(frozen=True)
class MlflowSettings:
    """Attributes
    ----------
    tracking_uri : ``MLFLOW_TRACKING_URI`` (None = unset).
    tracking : runs, metrics, artifacts and the registry alias are written (URI set and
        ``MODELPICKER_MLFLOW_TRACKING`` not false).
    experiment : ``MODELPICKER_MLFLOW_EXPERIMENT``, the experiment the rounds' runs go to (default ``modelpicker``).
    alias : ``MODELPICKER_MLFLOW_ALIAS``, the registry alias the chosen candidate gets on STOP and on export
        (default ``champion``).
    """

    tracking_uri: str | None = None
    tracking: bool = False
    experiment: str = "modelpicker"
    alias: str = "champion"


def mlflow_settings(env: Mapping[str, str], text, flag, error: type[Exception]) -> MlflowSettings:
    """Read the MLflow settings; ``text(env, name)`` / ``flag(env, name, default)`` are the settings readers
    (:mod:`backend.settings`), ``error`` its exception, raised naming the variable."""
    uri = text(env, "MLFLOW_TRACKING_URI")
    experiment = text(env, "MODELPICKER_MLFLOW_EXPERIMENT") or "modelpicker"
    alias = text(env, "MODELPICKER_MLFLOW_ALIAS") or "champion"
    if not _ALIAS.match(alias):
        raise error(f"MODELPICKER_MLFLOW_ALIAS must be a registry alias (letters, digits, '_' or '-', not "
                    f"'latest' or a version like 'v3'), got {alias!r}")
    if len(experiment) > 500:
        raise error("MODELPICKER_MLFLOW_EXPERIMENT must be at most 500 characters")
    tracking = flag(env, "MODELPICKER_MLFLOW_TRACKING", True)
    return MlflowSettings(tracking_uri=uri, tracking=bool(uri) and tracking, experiment=experiment, alias=alias)
