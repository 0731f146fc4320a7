"""The backend drives every strategy registered in the core the same way."""
from __future__ import annotations

import numpy as np
import pytest

import modelpicker_core as core


@pytest.mark.parametrize("strategy", core.available())
def test_every_registered_strategy_serves_predict_and_rankings(backend_factory, events, all_tasks, truth, strategy,
                                                              tmp_path):
    results = []
    for run in range(2):  # the belief is a function of the labels: two backends agree exactly
        b = backend_factory(MODELPICKER_STRATEGY=strategy, MODEL_DIR=str(tmp_path / f"run{run}"))
        assert b.post("/setup", {"project": 1, "schema": events.config}).status_code == 200
        assert b.ranking()["tasks"] == 0  # before any task: the prior
        assert b.webhook(events.tasks_created(*range(1, 31))).status_code == 200
        for i in range(10):
            r = b.webhook(events.created(100 + i, i + 1, events.choices[truth[i]], second=i))
            assert r.status_code == 200, r.get_json()
        predict = b.post("/predict", {"project": 1, "tasks": all_tasks}).get_json()
        scores = np.array([p["score"] for p in predict["results"]])
        assert ((scores >= 0) & (scores <= 1)).all() and (scores[:10] == 1).all() and scores[10:].min() == 0
        ranking = b.ranking()
        assert ranking["strategy"] == strategy and ranking["labels"] == 10
        assert sum(c["p_best"] for c in ranking["candidates"]) == pytest.approx(1.0)
        results.append((ranking, [p["score"] for p in predict["results"]]))
    assert results[0] == results[1]


def test_default_strategy(backend_factory):
    b = backend_factory(MODELPICKER_STRATEGY="")
    expected = "certified" if "certified" in core.available() else next(
        s for s in ("model_selector", "modelpicker") if s in core.available())
    assert b.client.get("/health").get_json()["strategy"] == expected
