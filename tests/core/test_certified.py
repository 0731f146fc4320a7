"""The certified strategy: seeded draws, replayable JSON state, a positive draw on every open item,
a belief the labels outvote, guided draws on a disagreement of the leader with an uncertified rival (``focus``)."""
import json

import numpy as np
import pytest

from modelpicker_core import from_state, make
from modelpicker_core.focus import leader_and_rivals
from modelpicker_core.sampling import open_items, sampling_distribution
from tests.support.noisy_pool import noisy_pool

N_MODELS, N_CLASSES = 6, 3


def _pool(n=120, seed=0):
    preds, truth = noisy_pool(N_MODELS, N_CLASSES, n, seed)
    preds[:10] = truth[:10, None]          # unanimous items: nothing to learn there
    return preds, truth


def _run(s, preds, truth, steps):
    unlabelled = np.ones(len(truth), dtype=bool)
    items = []
    for _ in range(steps):
        i = s.select(preds, candidates=unlabelled)
        s.observe(preds[i], int(truth[i]), item=i)
        unlabelled[i] = False
        items.append(int(i))
    return items, unlabelled


@pytest.mark.parametrize("params", [{}, {"leader": "pick", "prior_power": 1.0}])
def test_draws_are_a_function_of_the_seed_and_the_labels(params):
    preds, truth = _pool()
    runs = []
    for _ in range(2):
        s = make("certified", N_MODELS, N_CLASSES, random_state=3, **params)
        s.set_pool(preds)
        runs.append(_run(s, preds, truth, 12)[0])
        assert s.draw() == s.draw()        # drawing again without a label draws the same item
    assert runs[0] == runs[1]
    other = make("certified", N_MODELS, N_CLASSES, random_state=4, **params)
    other.set_pool(preds)
    assert _run(other, preds, truth, 12)[0] != runs[0]


def test_json_round_trip_replays_the_draws_and_the_certificate():
    preds, truth = _pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=7)
    s.set_pool(preds)
    _, unlabelled = _run(s, preds, truth, 15)
    restored = from_state(json.loads(json.dumps(s.get_state())))
    np.testing.assert_allclose(restored.p_best(), s.p_best())
    np.testing.assert_array_equal(restored.certificate_.lower, s.certificate_.lower)
    np.testing.assert_allclose(restored.p_top(), s.p_top())
    np.testing.assert_allclose(restored.sampling_distribution(unlabelled), s.sampling_distribution(unlabelled))
    assert restored.select(preds, candidates=unlabelled) == s.select(preds, candidates=unlabelled)
    assert restored.best() == s.best()


def test_a_label_the_strategy_did_not_draw_is_exact_knowledge_only():
    preds, truth = _pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=1)
    s.set_pool(preds)
    drawn = s.draw()
    other = next(i for i in range(10, len(truth)) if i != drawn)
    s.observe(preds[other], int(truth[other]), item=other)
    assert s.certificate_.sampled == 0 and s.labelled_[-1] == [other, int(truth[other]), 0]
    restored = from_state(json.loads(json.dumps(s.get_state())))
    np.testing.assert_array_equal(restored.certificate_.lower, s.certificate_.lower)


@pytest.mark.parametrize("params", [{}, {"exploration": 0.02, "guided": 0.9}, {"floor": 4.0}, {"prior_power": 0.0}])
def test_every_open_item_keeps_a_positive_probability(params):
    preds, truth = _pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=2, **params)
    s.set_pool(preds)
    unlabelled = np.ones(len(truth), dtype=bool)
    for _ in range(25):
        q = s.sampling_distribution(unlabelled)
        live = open_items(preds, unlabelled)
        assert q.sum() == pytest.approx(1.0)
        assert np.all(q[live] >= s.exploration / live.sum() - 1e-12)
        assert np.all(q[~live] == 0.0)
        i = s.select(preds, candidates=unlabelled)
        assert live[i]
        s.observe(preds[i], int(truth[i]), item=i)
        unlabelled[i] = False


def test_sampling_distribution_shares():
    preds = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 2], [2, 2, 1]])
    unlabelled = np.array([True, True, True, False])
    guess = np.full(preds.shape, 0.5)
    q = sampling_distribution(preds, unlabelled, guess, 0, np.array([1, 2]), [(2, 0.5)], exploration=0.2)
    assert q[0] == 0 and q[3] == 0 and q.sum() == pytest.approx(1.0)
    assert q[2] > q[1] > 0
    with pytest.raises(ValueError):
        sampling_distribution(preds, unlabelled, guess, 0, np.array([1]), [(1, 0.9)], exploration=0.2)


def test_belief_is_the_tempered_guide_times_the_labels_likelihood():
    preds, truth = _pool(200, seed=5)
    for cap in (None, 1.5):
        s = make("certified", N_MODELS, N_CLASSES, random_state=0, prior_power=0.5, label_noise=0.25,
                 prior_labels=cap)
        s.set_pool(preds)
        _run(s, preds, truth, 20)
        prior = 0.5 * np.log(np.maximum(s.guide_.p_best(), 1e-12))   # the PRIOR_FLOOR of the strategy
        if cap is not None:      # no model is more than 1.5 labels (log 3 each) behind the guide's favourite
            prior = np.maximum(prior, prior.max() - 1.5 * np.log(3.0))
        logits = prior + np.log(3.0) * s.correct_
        expected = np.exp(logits - logits.max())
        np.testing.assert_allclose(s.p_best(), expected / expected.sum(), rtol=1e-9)
        assert s.best() == int(np.argmax(expected))


@pytest.mark.parametrize("prior_power", [0.3, 1.0])
def test_labels_outvote_a_confidently_wrong_guide_after_the_margin_its_prior_is_worth(prior_power):
    """Most candidates share their errors on a slice; the true best (model 0) is the only one right there."""
    rng = np.random.default_rng(0)
    n, k = 300, 5
    truth = rng.integers(0, 2, n)
    preds = np.repeat(truth[:, None], k, axis=1)
    noise = rng.random((n, k)) < 0.08                     # independent errors: consensus learns from these
    preds[noise] = 1 - preds[noise]
    slice_ = np.arange(n) < 90                             # the shared failure: models 1..4 wrong together
    preds[slice_, 1:] = 1 - truth[slice_, None]
    preds[slice_, 0] = truth[slice_]
    s = make("certified", k, 2, random_state=0, prior_power=prior_power, label_noise=0.3, prior_labels=None)
    s.set_pool(preds)
    favourite = int(np.argmax(s.guide_.p_best()))
    assert favourite != 0                                  # the consensus is fooled before any label
    margin = prior_power * np.log(s.guide_.p_best()[favourite] / max(s.guide_.p_best()[0], 1e-12)) / np.log(s.gamma)
    # label the slice items first (what the draws eventually reach): every label there is one more for model 0
    steps = int(np.ceil(margin)) + 15
    for i in range(steps):
        s.observe(preds[i], int(truth[i]), item=i)
    assert s.best() == 0, (margin, s.p_best())


def test_bad_parameters_are_rejected():
    for params in ({"exploration": 0.0}, {"guided": 0.9, "exploration": 0.2}, {"prior_power": -0.1},
                   {"max_rivals": 0}, {"prior_labels": -1.0}, {"label_noise": 0.5}, {"label_noise": 0.0},
                   {"residual": "other"}, {"leader": "x"}, {"floor": 0.0}):
        with pytest.raises(ValueError):
            make("certified", N_MODELS, N_CLASSES, **params)


def _label(s, preds, truth, unlabelled):
    i = s.select(preds, candidates=unlabelled)
    s.observe(preds[i], int(truth[i]), item=i)
    unlabelled[i] = False
    return i


@pytest.mark.parametrize("focus_leader", ["pick", "gap"])
def test_the_guided_item_is_a_disagreement_of_the_leader_with_an_uncertified_rival(focus_leader):
    preds, truth = _pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=5, focus="open", focus_leader=focus_leader)
    s.set_pool(preds)
    unlabelled = np.ones(len(truth), dtype=bool)
    for _ in range(30):
        gap, p_top = s.certificate_.gap(), s.p_top()
        leader, rivals = leader_and_rivals(focus_leader, gap, p_top, s.certificate_.lower, s.epsilon, len(truth))
        allowed = unlabelled & s._contested
        item = s._guided_item(allowed, gap, p_top)
        assert allowed[item]
        if rivals.size and np.any(allowed & np.any(preds[:, rivals] != preds[:, [leader]], axis=1)):
            assert np.any(preds[item, rivals] != preds[item, leader])
        _label(s, preds, truth, unlabelled)


@pytest.mark.parametrize("params", [{"focus": "open"}, {"focus": "open", "focus_leader": "gap"}, {"focus": "none"}])
def test_focused_draws_replay_from_json(params):
    preds, truth = _pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=7, **params)
    s.set_pool(preds)
    unlabelled = np.ones(len(truth), dtype=bool)
    items = [_label(s, preds, truth, unlabelled) for _ in range(15)]
    again = make("certified", N_MODELS, N_CLASSES, random_state=7, **params)
    again.set_pool(preds)
    left = np.ones(len(truth), dtype=bool)
    assert [_label(again, preds, truth, left) for _ in range(15)] == items   # same seed, same labels: same draws
    restored = from_state(json.loads(json.dumps(s.get_state())))
    np.testing.assert_array_equal(restored.certificate_.lower, s.certificate_.lower)
    np.testing.assert_allclose(restored.sampling_distribution(unlabelled), s.sampling_distribution(unlabelled))
    assert restored.select(preds, candidates=unlabelled) == s.select(preds, candidates=unlabelled)


def test_bad_focus_parameters_are_rejected():
    for params in ({"focus": "other"}, {"focus": "gain"}, {"focus_leader": "x"}):
        with pytest.raises(ValueError):
            make("certified", N_MODELS, N_CLASSES, **params)
