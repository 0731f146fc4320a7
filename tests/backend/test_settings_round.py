"""The settings of issue 4 (refresh debounce, stopping rule, write-back): defaults and errors naming the variable."""
from __future__ import annotations

import pytest

from backend.settings import SettingsError, from_env


def test_defaults():
    s = from_env({})
    assert (s.refresh_every_labels, s.refresh_min_seconds) == (1, 2.0)
    assert (s.confidence, s.label_budget, s.min_labels) == (0.95, None, 1)
    assert s.writeback is True and s.write_candidates is False and not s.label_studio_configured
    assert s.push_limit == 100


def test_values_are_read():
    s = from_env({"MODELPICKER_REFRESH_EVERY_LABELS": "5", "MODELPICKER_REFRESH_MIN_SECONDS": "0.5",
                  "MODELPICKER_CONFIDENCE": "0.99", "MODELPICKER_LABEL_BUDGET": "200", "MODELPICKER_MIN_LABELS": "0",
                  "MODELPICKER_WRITEBACK": "false", "MODELPICKER_WRITE_CANDIDATES": "yes",
                  "LABEL_STUDIO_URL": "http://ls:8080", "LABEL_STUDIO_API_KEY": "k"})
    assert (s.refresh_every_labels, s.refresh_min_seconds, s.confidence, s.label_budget, s.min_labels) == \
        (5, 0.5, 0.99, 200, 0)
    assert s.writeback is False and s.write_candidates is True and s.label_studio_configured


@pytest.mark.parametrize("env, message", [
    ({"MODELPICKER_REFRESH_EVERY_LABELS": "0"}, "MODELPICKER_REFRESH_EVERY_LABELS must be between 1 and"),
    ({"MODELPICKER_REFRESH_EVERY_LABELS": "two"}, "MODELPICKER_REFRESH_EVERY_LABELS must be an integer"),
    ({"MODELPICKER_REFRESH_MIN_SECONDS": "-1"}, "MODELPICKER_REFRESH_MIN_SECONDS must be between 0.0 and"),
    ({"MODELPICKER_REFRESH_MIN_SECONDS": "soon"}, "MODELPICKER_REFRESH_MIN_SECONDS must be a number"),
    ({"MODELPICKER_CONFIDENCE": "1"}, "MODELPICKER_CONFIDENCE must be strictly between 0.0 and 1.0"),
    ({"MODELPICKER_CONFIDENCE": "nan"}, "MODELPICKER_CONFIDENCE must be strictly between"),
    ({"MODELPICKER_LABEL_BUDGET": "0"}, "MODELPICKER_LABEL_BUDGET must be between 1 and"),
    ({"MODELPICKER_MIN_LABELS": "-2"}, "MODELPICKER_MIN_LABELS must be between 0 and"),
    ({"MODELPICKER_WRITEBACK": "maybe"}, "MODELPICKER_WRITEBACK must be true or false"),
    ({"MODELPICKER_WRITE_CANDIDATES": "2"}, "MODELPICKER_WRITE_CANDIDATES must be true or false"),
    ({"MODELPICKER_PUSH_LIMIT": "-1"}, "MODELPICKER_PUSH_LIMIT must be between 0 and"),
])
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        from_env(env)
