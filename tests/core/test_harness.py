"""The simulation harness on tiny synthetic collections."""
import numpy as np
import pytest

from modelpicker_core import registry
from modelpicker_core.base import Strategy
from modelpicker_core.harness import (
    BenchConfig,
    labels_to_target,
    run_benchmark,
    run_stream,
    run_stream_uniform,
    true_best,
)
from modelpicker_core.loaders import Collection


def synthetic(n_items=300, accuracies=(0.9, 0.8, 0.75, 0.7), n_classes=3, seed=0) -> Collection:
    """Models that are right with the given probabilities and otherwise predict a random wrong class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(n_classes, size=n_items)
    preds = np.empty((n_items, len(accuracies)), dtype=np.int64)
    for j, acc in enumerate(accuracies):
        wrong = (labels + rng.integers(1, n_classes, size=n_items)) % n_classes
        preds[:, j] = np.where(rng.random(n_items) < acc, labels, wrong)
    return Collection(preds, labels, np.arange(n_classes), None, "synthetic")


class FirstUnlabelled(Strategy):
    """A deterministic pool-only strategy: label the first candidate; P(best) from correct counts."""

    name = "_test_first_unlabelled"

    def _update(self, row, label, q, item):
        pass

    def score(self, predictions, probabilities=None):
        return -np.arange(np.asarray(predictions).shape[0], dtype=float)

    def p_best(self):
        top = self.correct_ == self.correct_.max()
        return top / top.sum()


registry.register(FirstUnlabelled)


def without_seconds(result):
    return {**result, "strategies": {k: {kk: vv for kk, vv in v.items() if kk != "seconds"}
                                     for k, v in result["strategies"].items()}}


def test_true_best_counts_every_tied_model():
    preds = np.array([[0, 1, 1], [1, 0, 1], [0, 0, 0]])
    accuracy, best = true_best(preds, np.array([0, 0, 0]))
    assert accuracy.tolist() == pytest.approx([2 / 3, 2 / 3, 1 / 3])
    assert best.tolist() == [True, True, False]
    accuracy, best = true_best(preds, np.array([1, 1, 0]))
    assert best.tolist() == [False, False, True]


@pytest.mark.parametrize("ident, expected", [
    ([0.5, 0.95, 0.85, 0.92, 0.99], 40),   # dips below 0.9 at 30, so it counts from 40
    ([0.91, 0.95, 0.9, 0.92, 0.99], 10),   # 0.9 itself counts
    ([0.5, 0.6, 0.7, 0.8, 0.89], None),
    ([0.95, 0.95, 0.95, 0.95, 0.5], None),  # falling below at the largest budget
])
def test_labels_to_target(ident, expected):
    assert labels_to_target([10, 20, 30, 40, 50], ident) == expected


def test_run_stream_counts_every_item_and_skips_agreement():
    col = synthetic(n_items=200)
    strategy = registry.make("modelpicker", col.n_models, col.n_classes, random_state=1, scaling=5.0)
    pick, used = run_stream(strategy, col.predictions, col.labels)
    agree = np.all(col.predictions == col.predictions[:, :1], axis=1)
    assert strategy.t_ == col.n_items + 1  # t counts queried and unqueried items alike
    assert 0 < used <= int((~agree).sum())
    assert 0 <= pick < col.n_models


def test_run_stream_uniform_queries_at_the_rate():
    col = synthetic(n_items=300)
    strategy = registry.make(FirstUnlabelled.name, col.n_models, col.n_classes, random_state=0)
    _, used = run_stream_uniform(strategy, col.predictions, col.labels, 0.5, np.random.default_rng(0))
    assert 110 < used < 190


def test_stream_calibration_matches_budget_and_is_seeded():
    col = synthetic(n_items=400)
    config = BenchConfig("stream", ["modelpicker"], [40, 15], realizations=8, size=120, seed=3, pilots=8,
                         calibration_steps=10)
    first = run_benchmark(col, config)
    res = first["strategies"]["modelpicker"]
    assert res["budgets"] == [15, 40]
    for budget, pilot, used in zip(res["budgets"], res["pilot_labels"], res["labels"]):
        assert abs(pilot - budget) <= 1.0  # calibrated on the pilot streams
        assert abs(used - budget) < 0.3 * budget  # evaluation streams are fresh, so only close
    assert res["scaling"][0] < res["scaling"][1]
    assert all(0.0 <= v <= 1.0 for v in res["identification"])
    again = run_benchmark(col, BenchConfig(**{**config.__dict__, "workers": 2}))
    assert without_seconds(again) == without_seconds(first)  # same seed, any worker count: same numbers
    other = run_benchmark(col, BenchConfig(**{**config.__dict__, "seed": 4}))
    assert without_seconds(other) != without_seconds(first)


def test_budget_above_what_the_stream_can_spend_keeps_largest_scaling():
    col = synthetic(n_items=200)
    config = BenchConfig("stream", ["modelpicker"], [150], realizations=4, size=100, pilots=4)
    res = run_benchmark(col, config)["strategies"]["modelpicker"]
    assert res["scaling"] == [1e6]
    agree = np.all(col.predictions == col.predictions[:, :1], axis=1)
    assert res["labels"][0] < 100 and res["labels"][0] <= (~agree).sum()


def test_pool_full_labelling_identifies_a_true_best_even_when_tied():
    col = synthetic(n_items=120, accuracies=(0.8, 0.8, 0.6))
    tied = Collection(np.column_stack([col.predictions[:, 0], col.predictions]), col.labels, col.classes)
    # models 0 and 1 are identical, so every realisation has at least two tied best models
    config = BenchConfig("pool", ["modelpicker", FirstUnlabelled.name], [5, 20, 40], realizations=6, size=40, seed=1)
    result = run_benchmark(tied, config)
    for name, res in result["strategies"].items():
        assert res["labels"] == [5.0, 20.0, 40.0]
        assert res["identification"][-1] == 1.0, name  # all pool items labelled: the pick is a true best
        assert res["regret"][-1] == 0.0
        assert res["labels_to_0.9"] is not None and res["labels_to_0.9"] <= 40
    assert without_seconds(run_benchmark(tied, config)) == without_seconds(result)


def test_config_errors():
    col = synthetic(n_items=50)
    with pytest.raises(ValueError, match="no stream form"):
        run_benchmark(col, BenchConfig("stream", [FirstUnlabelled.name], [10], realizations=2))
    with pytest.raises(ValueError, match="exceeds the pool size 20"):
        run_benchmark(col, BenchConfig("pool", ["modelpicker"], [30], realizations=2, size=20))
    with pytest.raises(ValueError, match=r"size must be in 1\.\.50"):
        run_benchmark(col, BenchConfig("pool", ["modelpicker"], [3], realizations=2, size=60))
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        run_benchmark(col, BenchConfig("pool", ["nope"], [3], realizations=2))
    unlabelled = Collection(col.predictions, None, col.classes, None, "x")
    with pytest.raises(ValueError, match="needs true labels"):
        run_benchmark(unlabelled, BenchConfig("pool", ["modelpicker"], [3], realizations=2))


def test_belief_stops_are_reported_beside_the_certified_ones():
    """``belief_stop``: the P(best) rule runs in the same realisations; a stop needs its patience of 3 labels."""
    col = synthetic(n_items=400, accuracies=(0.95, 0.6, 0.55, 0.5))
    config = BenchConfig("pool", [FirstUnlabelled.name], [5, 20], realizations=5, size=200, seed=2, stop=True,
                         epsilons=(0.01,), stop_horizon=200, belief_stop=True)
    res = run_benchmark(col, config)["strategies"][FirstUnlabelled.name]
    belief, certified = res["stops_belief"], res["stops"]
    assert belief["runs"] == certified["runs"] == 5
    # the counts' P(best) puts 1.0 on the leader as soon as it leads alone: 3 labels in a row, from label 1
    assert belief["stopped"] == 5 and belief["labels_median"] >= 3
    assert belief["wrong"] == sum(1 for g in belief["wrong_gaps"] if g > 0)
    assert certified["stopped"] == 5 and certified["wrong"] == 0
    assert belief["labels_median"] < certified["labels_median"]
