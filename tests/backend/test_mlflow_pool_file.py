"""The ``mlflow`` entries of a pool file are checked before any registry call: each error names the
candidate and the field (no MLflow server here; tests/backend/test_mlflow.py has the real one)."""
from __future__ import annotations

import pytest

from backend.pool import PoolError, load_pool


@pytest.mark.parametrize("source, message", [
    ("{type: mlflow, model_uri: 'runs:/abc/model'}",
     "candidate 'c': source.model_uri: must look like models:/<registered model>/<version> or "
     "models:/<registered model>@<alias>, got 'runs:/abc/model'"),
    ("{type: mlflow, model_uri: 'models:/m/latest'}", "got 'models:/m/latest'"),
    ("{type: mlflow}", "candidate 'c': source: give either model_uri"),
    ("{type: mlflow, model_uri: 'models:/m/1', registered_model: m}", "candidate 'c': source: give either model_uri"),
    ("{type: mlflow, model_uri: 'models:/m/1', version_filter: \"tags.a = 'b'\"}",
     "candidate 'c': source: version_filter and name_tag go with registered_model, not model_uri"),
    ("{type: mlflow, registered_model: ''}", "candidate 'c': source.registered_model: must be a non-empty string"),
    ("{type: mlflow, registered_model: m, name_tag: 3}", "candidate 'c': source.name_tag: must be a non-empty string"),
    ("{type: mlflow, registered_model: m, stage: Production}",
     "candidate 'c': source.stage: unknown field for a mlflow source"),
])
def test_mlflow_entries_are_checked_before_the_registry_is_asked(tmp_path, source, message):
    path = tmp_path / "pool.yaml"
    path.write_text(f"data_field: x\ncandidates:\n  - name: c\n    source: {source}\n")
    with pytest.raises(PoolError) as err:
        load_pool(path)
    assert message in str(err.value)


def test_an_mlflow_entry_needs_a_field(tmp_path):
    path = tmp_path / "pool.yaml"
    path.write_text("candidates:\n  - name: c\n    source: {type: mlflow, model_uri: 'models:/m/1'}\n")
    with pytest.raises(PoolError, match=r"candidate 'c': source.field: must be a non-empty string \(or set "
                                        r"data_field"):
        load_pool(path)
