"""The MLflow settings: tracking follows MLFLOW_TRACKING_URI; a bad alias stops the start naming the variable."""
from __future__ import annotations

import pytest

from backend.settings import SettingsError, from_env


def test_tracking_is_on_only_with_a_tracking_uri():
    assert from_env({}).mlflow.tracking is False
    on = from_env({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}).mlflow
    assert on.tracking and on.experiment == "modelpicker" and on.alias == "champion"
    off = from_env({"MLFLOW_TRACKING_URI": "http://mlflow:5000", "MODELPICKER_MLFLOW_TRACKING": "false"}).mlflow
    assert off.tracking is False and off.tracking_uri == "http://mlflow:5000"
    named = from_env({"MLFLOW_TRACKING_URI": "x", "MODELPICKER_MLFLOW_EXPERIMENT": "digits daily",
                      "MODELPICKER_MLFLOW_ALIAS": "prod-2"}).mlflow
    assert (named.experiment, named.alias) == ("digits daily", "prod-2")


@pytest.mark.parametrize("alias", ["latest", "v3", "V12", "with space", "a/b", "-lead"])
def test_an_alias_mlflow_would_refuse_or_misread_is_refused(alias):
    with pytest.raises(SettingsError, match="MODELPICKER_MLFLOW_ALIAS must be a registry alias"):
        from_env({"MODELPICKER_MLFLOW_ALIAS": alias})


def test_a_bad_tracking_switch_names_the_variable():
    with pytest.raises(SettingsError, match="MODELPICKER_MLFLOW_TRACKING must be true or false"):
        from_env({"MODELPICKER_MLFLOW_TRACKING": "maybe"})
