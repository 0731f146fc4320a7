"""The consensus strategy: pool belief, P(best), selection, JSON state."""
import json

import numpy as np
import pytest

from modelpicker_core import registry
from modelpicker_core.consensus import Consensus, PoolPatterns
from modelpicker_core.synth import generate, spec_for

#: smaller Monte Carlo settings keep the tests fast; the defaults are exercised by the benchmarks
FAST = {"n_samples": 128, "n_draws": 4}


def make(n_models, n_classes, **kwargs):
    return registry.make("consensus", n_models, n_classes, **{**FAST, **kwargs})


def toy_pool(n=300, seed=0):
    """4 models, 3 classes: model 0 is right 90%, the others 70-80% with shared mistakes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    hard = rng.random(n) < 0.3
    preds = np.empty((n, 4), dtype=np.int64)
    for i, acc in enumerate([0.9, 0.8, 0.75, 0.7]):
        right = rng.random(n) < np.where(hard, acc - 0.2, acc + 0.05)
        preds[:, i] = np.where(right, y, (y + 1 + (rng.random(n) < 0.3)) % 3)
    return preds, y


def run(strategy, preds, y, n_labels):
    unlabelled = np.ones(len(y), dtype=bool)
    strategy.set_pool(preds)
    picks = []
    for _ in range(n_labels):
        i = strategy.select(preds, None, candidates=unlabelled)
        strategy.observe(preds[i], y[i], item=i)
        unlabelled[i] = False
        picks.append(strategy.best())
    return picks


def test_registered_as_consensus():
    assert "consensus" in registry.available()
    assert isinstance(registry.make("consensus", 3, 2), Consensus)


def test_patterns_group_identical_rows():
    preds = np.array([[0, 1], [0, 1], [1, 1], [0, 1]])
    pat = PoolPatterns(preds, 2, None)
    assert pat.n_groups == 2
    assert sorted(pat.size.tolist()) == [1, 3]
    assert pat.group_of[0] == pat.group_of[1] == pat.group_of[3] != pat.group_of[2]
    assert pat.disagree.tolist() == [True, False] or pat.disagree.tolist() == [False, True]


def test_needs_a_pool_before_scoring():
    s = registry.make("consensus", 3, 2)
    with pytest.raises(ValueError, match="set_pool"):
        s.score(np.zeros((2, 3), dtype=int))


def test_p_best_is_a_distribution_and_p_top_bounds_it():
    preds, _ = toy_pool()
    s = make(4, 3, random_state=1)
    s.set_pool(preds)
    p, top = s.p_best(), s.p_top()
    assert p.shape == (4,) and np.all(p >= 0) and p.sum() == pytest.approx(1.0)
    assert np.all(top >= p - 1e-12) and np.all(top <= 1.0)


def test_finds_the_best_model_and_becomes_sure():
    preds, y = toy_pool()
    truth = (preds == y[:, None]).sum(axis=0)
    s = make(4, 3, random_state=3)
    picks = run(s, preds, y, 60)
    assert picks[-1] == int(np.argmax(truth))
    assert s.p_top()[picks[-1]] > 0.9


def test_everything_labelled_gives_certainty_and_exact_pool_accuracy():
    preds, y = toy_pool(n=60)
    s = make(4, 3, random_state=0)
    s.set_pool(preds)
    for i in range(len(y)):
        s.observe(preds[i], y[i], item=i)
    truth = (preds == y[:, None]).mean(axis=0)
    acc, low, high, basis = s.accuracy_estimate()
    assert basis == "pool"
    np.testing.assert_allclose(acc, truth)
    np.testing.assert_allclose(low, truth)
    np.testing.assert_allclose(high, truth)
    best = truth == truth.max()
    np.testing.assert_allclose(s.p_top(), best.astype(float))
    assert s.ranking().accuracy_basis == "pool"


def test_accuracy_interval_contains_the_estimate():
    preds, y = toy_pool()
    s = make(4, 3, random_state=0)
    run(s, preds, y, 10)
    acc, low, high, _ = s.accuracy_estimate()
    assert np.all(low <= acc) and np.all(acc <= high)
    assert np.all((0 <= low) & (high <= 1))


def test_items_all_models_agree_on_are_never_preferred():
    preds, _ = toy_pool()
    s = make(4, 3, random_state=0)
    s.set_pool(preds)
    scores = s.score(preds)
    agree = np.all(preds == preds[:, :1], axis=1)
    assert agree.any() and (~agree).any()
    assert scores[agree].max() == 0.0
    assert scores[~agree].max() > 0.0
    assert not agree[s.select(preds)]


def test_same_seed_same_run():
    preds, y = toy_pool()
    a = make(4, 3, random_state=7)
    b = make(4, 3, random_state=7)
    assert run(a, preds, y, 15) == run(b, preds, y, 15)
    np.testing.assert_array_equal(a.p_best(), b.p_best())


def test_p_best_is_a_function_of_the_state():
    preds, y = toy_pool()
    s = make(4, 3, random_state=2)
    run(s, preds, y, 5)
    first = s.p_best()
    s.best()
    s.select(preds)
    np.testing.assert_array_equal(first, s.p_best())


def test_json_state_rebuilds_the_identical_strategy():
    preds, y = toy_pool()
    s = make(4, 3, random_state=5)
    run(s, preds, y, 8)
    state = json.loads(json.dumps(s.get_state()))
    t = registry.from_state(state)
    np.testing.assert_array_equal(s.p_best(), t.p_best())
    np.testing.assert_array_equal(s.accuracy_estimate()[0], t.accuracy_estimate()[0])
    unlabelled = np.ones(len(y), dtype=bool)
    unlabelled[[i for i in s.labelled_items_]] = False
    assert s.select(preds, candidates=unlabelled) == t.select(preds, candidates=unlabelled)
    assert t.get_params() == s.get_params()


def test_observe_without_item_uses_a_matching_unlabelled_row():
    preds, y = toy_pool(n=50)
    s = make(4, 3, random_state=0)
    s.set_pool(preds)
    s.observe(preds[3], y[3])
    assert s.n_labels_ == 1 and len(s.labelled_items_) == 1
    assert np.array_equal(preds[s.labelled_items_[0]], preds[3])


@pytest.mark.parametrize("call, message", [
    (lambda s, p, y: s.observe(p[0], y[0], item=10_000), "not a row of the pool"),
    (lambda s, p, y: s.observe(p[1], y[0], item=0) if not np.array_equal(p[0], p[1]) else s.observe(p[0], 9, item=0),
     "does not match|outside the label space"),
    (lambda s, p, y: s.set_pool(p[:, :2]), "models"),
    (lambda s, p, y: s.set_pool(p + 5), "label space"),
    (lambda s, p, y: s.set_pool(p, np.ones((2, 2, 2))), "probabilities"),
])
def test_bad_input_is_named(call, message):
    preds, y = toy_pool(n=40)
    s = make(4, 3, random_state=0)
    s.set_pool(preds)
    with pytest.raises(ValueError, match=message):
        call(s, preds, y)


def test_labelling_the_same_item_twice_is_an_error():
    preds, y = toy_pool(n=40)
    s = make(4, 3, random_state=0)
    s.set_pool(preds)
    s.observe(preds[0], y[0], item=0)
    with pytest.raises(ValueError, match="already labelled"):
        s.observe(preds[0], y[0], item=0)
    assert s.n_labels_ == 1


def test_changing_the_pool_after_labels_is_refused_but_the_same_pool_is_fine():
    preds, y = toy_pool(n=40)
    s = make(4, 3, random_state=0)
    s.set_pool(preds)
    s.observe(preds[0], y[0], item=0)
    s.set_pool(preds.copy())
    with pytest.raises(ValueError, match="different pool"):
        s.set_pool(preds[:30])


@pytest.mark.parametrize("kwargs", [{"n_samples": 2}, {"prior_strength": 0}, {"group_strength": -1},
                                    {"temperatures": []}, {"n_draws": -1},
                                    {"full_confusion": "yes"}, {"voter_counts": []}, {"voter_counts": [1]},
                                    {"voter_counts": [-3]}, {"voter_counts": [2.5]}, {"other_rate": [1.0]},
                                    {"other_rate": [0.0, 1.0]}, {"unanimous_rate": [1.0]},
                                    {"unanimous_rate": [1.0, -2.0]}, {"n_evaluated": "many"}, {"n_evaluated": 0},
                                    {"n_evaluated": None}, {"n_evaluated": 2.5},
                                    {"gain_samples": 4}])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        registry.make("consensus", 3, 2, **kwargs)


def test_probabilities_split_rows_by_confidence():
    col = generate(spec_for("near-ties", n_items=400), seed=0, probabilities=True)
    s = make(col.predictions.shape[1], 4, random_state=0)
    s.set_pool(col.predictions, col.probabilities)
    t = make(col.predictions.shape[1], 4, random_state=0)
    t.set_pool(col.predictions)
    assert s._patterns.n_groups > t._patterns.n_groups
    assert s.p_best().sum() == pytest.approx(1.0)
    i = s.select(col.predictions, col.probabilities)
    s.observe(col.predictions[i], col.labels[i], item=i)
    assert s.n_labels_ == 1


@pytest.mark.parametrize("full", [True, False])
def test_both_confusion_models_find_the_best(full):
    preds, y = toy_pool()
    s = make(4, 3, random_state=4, full_confusion=full)
    assert run(s, preds, y, 60)[-1] == int(np.argmax((preds == y[:, None]).sum(axis=0)))


def test_imbalanced_binary_pool():
    col = generate(spec_for("imbalanced", n_items=1000), seed=1)
    truth = (col.predictions == col.labels[:, None]).sum(axis=0)
    s = make(col.predictions.shape[1], 2, random_state=0)
    picks = run(s, col.predictions, col.labels, 40)
    assert truth[picks[-1]] == truth.max()


def test_normal_approximation_path_agrees_on_an_easy_pool():
    preds, y = toy_pool()
    exact = make(4, 3, random_state=0)
    approx = make(4, 3, random_state=0, exact_limit=1)
    run(exact, preds, y, 40)
    run(approx, preds, y, 40)
    assert approx.best() == exact.best()
    assert abs(approx.p_top()[approx.best()] - exact.p_top()[exact.best()]) < 0.1


def test_labels_for_rows_outside_the_pool_survive_the_json_state():
    preds, y = toy_pool(n=40)
    s = make(4, 3, random_state=0)
    s.set_pool(preds[:20])
    outside = next(i for i in range(20, 40) if not (preds[:20] == preds[i]).all(axis=1).any())
    s.observe(preds[outside], y[outside])
    s.observe(preds[0], y[0], item=0)
    assert s.labelled_items_ == [-1, 0]
    t = registry.from_state(json.loads(json.dumps(s.get_state())))
    np.testing.assert_array_equal(s.p_best(), t.p_best())
    np.testing.assert_array_equal(s.accuracy_estimate()[0], t.accuracy_estimate()[0])


def test_observe_before_set_pool_is_an_error_and_changes_nothing():
    s = make(4, 3, random_state=0)
    with pytest.raises(ValueError, match="set_pool"):
        s.observe([0, 1, 2, 0], 1)
    assert s.n_labels_ == 0


def test_voter_sets_listen_to_the_models_of_highest_estimated_accuracy():
    col = generate(spec_for("many-models", n_items=600), seed=0)
    s = make(col.predictions.shape[1], col.n_classes, random_state=0, voter_counts=[0, 10])
    s.set_pool(col.predictions)
    b = s._posterior()
    sets = b.voter_sets
    assert sets[0] is None and sets[1].sum() == 10
    prior_accuracy = s._prior.recall @ (s._prior.class_prior / s._prior.class_prior.sum())
    chosen = np.flatnonzero(sets[1])
    assert prior_accuracy[chosen].min() >= np.sort(prior_accuracy)[-10] - 1e-12
    assert len(b.components) == 2 * len(s.temperatures)
    # counts at or above n_models mean "every model": one voter set only
    t = make(4, 3, random_state=0, voter_counts=[0, 4, 10])
    preds, _ = toy_pool()
    t.set_pool(preds)
    assert t._posterior().voter_sets == [None]


def test_other_rate_is_learned_from_the_labels():
    """The rate at which no model predicts the class of a disagreement item follows the labels."""
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 2, size=(200, 3))
    preds[:, 2] = 1 - preds[:, 0]                    # every row has at least two predicted classes of 5
    s = make(3, 5, random_state=0)
    s.set_pool(preds)
    assert s._posterior().rates.disagreement == pytest.approx(0.5 / 10.0)
    for item in range(20):                           # every label is a class no model predicted
        s.observe(preds[item], 4, item=item)
    assert s._posterior().rates.disagreement == pytest.approx(20.5 / 30.0)
    g = s._patterns.group_of[100]
    lo, hi = s._patterns.slot_start[g], s._patterns.slot_start[g + 1]
    # the pattern's predicted classes keep only the rest of the mass (before its own labels)
    assert s._posterior().slot_q[lo:hi].sum() <= 1.0 - 0.5 * s._posterior().rates.disagreement


def test_accuracy_estimates_hold_on_a_pool_the_models_mostly_agree_on():
    """Unanimous items count as right at a learned rate, not at the tempered consensus's (which
    spreads their mass over every other class: EmoContext's estimates were 18-20 points low)."""
    col = generate(spec_for("near-ties", n_items=1000), seed=0)
    preds, y = col.predictions, col.labels
    assert np.mean(np.all(preds == preds[:, :1], axis=1)) > 0.5
    s = make(preds.shape[1], col.n_classes, random_state=0)
    run(s, preds, y, 20)
    acc, lo, hi, kind = s.accuracy_estimate()
    truth = (preds == y[:, None]).mean(axis=0)
    assert kind == "pool"
    assert np.abs(acc - truth).mean() < 0.03 and np.abs(acc - truth).max() < 0.045
    assert np.mean((lo <= truth) & (truth <= hi)) >= 0.75
    assert np.mean(hi - lo) < 0.15


def test_unanimous_error_rate_is_learned_from_labels_on_unanimous_items():
    preds = np.zeros((100, 3), dtype=np.int64)
    preds[50:] = [0, 1, 1]
    s = make(3, 4, random_state=0, unanimous_rate=(1.0, 9.0))
    s.set_pool(preds)
    assert s._posterior().rates.unanimous == pytest.approx(0.1)
    for item in range(10):                         # unanimous rows, half of them labelled with another class
        s.observe(preds[item], 2 if item % 2 else 0, item=item)
    assert s._posterior().rates.unanimous == pytest.approx(6.0 / 20.0)
    # the shared rate widens every model's interval by the same uncertainty
    _, lo, hi, _ = s.accuracy_estimate()
    assert np.all(hi - lo > 0.05)


def test_n_evaluated_auto_evaluates_more_patterns_among_many_models():
    assert make(8, 3).n_evaluated == 32
    assert make(100, 3).n_evaluated == 128
    assert make(100, 3, n_evaluated=7).n_evaluated == 7


def test_posterior_mean_recalls_without_draws_find_the_best():
    """``n_draws=0``: one component per (voters, temperature) at the posterior-mean recalls."""
    preds, y = toy_pool()
    s = make(4, 3, random_state=4, n_draws=0)
    assert run(s, preds, y, 60)[-1] == int(np.argmax((preds == y[:, None]).sum(axis=0)))
    assert s._posterior().slot_qs.shape[0] == len(s.temperatures)


def test_without_other_rate_the_whole_posterior_is_tempered():
    preds, y = toy_pool()
    s = make(4, 3, random_state=0, other_rate=None)
    run(s, preds, y, 10)
    assert s._posterior().rates is None
    assert s.p_best().sum() == pytest.approx(1.0)
    acc, low, high, _ = s.accuracy_estimate()
    assert np.all(low <= acc) and np.all(acc <= high)
