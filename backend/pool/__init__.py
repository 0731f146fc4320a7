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
      - name: registry
        source: {type: mlflow, model_uri: "models:/digits@candidate"}

Each source turns a list of task data values into a list of raw outputs; the
candidate's ``labels`` map (identity when absent) turns an output into one of
the project's Choice values.  Every error names the candidate and the field.

Layout: :mod:`~backend.pool.errors`, :mod:`~backend.pool.sources` (the file,
model, HTTP and callable sources), :mod:`~backend.pool.mlflow_source` (the
MLflow registry's), :mod:`~backend.pool.candidates` (:class:`Candidate`,
:class:`Pool`), :mod:`~backend.pool.loading` (:func:`load_pool`: the YAML
read and checked).
"""
from __future__ import annotations

import logging

from .candidates import Candidate, Pool
from .errors import PoolError, PredictionError, SourceError
from .loading import load_pool
from .sources import SOURCE_TYPES, CallableSource, HttpSource, PredictionsFileSource, SklearnSource, Source, output_key

logger = logging.getLogger(__name__)

__all__ = ["SOURCE_TYPES", "CallableSource", "Candidate", "HttpSource", "Pool", "PoolError", "PredictionError",
           "PredictionsFileSource", "SklearnSource", "Source", "SourceError", "load_pool", "output_key"]
