"""Baselines (random, disagreement, vote entropy) and Model Selector: scores,
selection, picks, a hand-checked expected-entropy case, exactness against the
per-item loops, and bad input for every registered strategy."""
import math

import numpy as np
import pytest

from modelpicker_core import DisagreementSampling, ModelSelector, RandomSampling, VoteEntropySampling, available, make
from modelpicker_core.baselines import vote_entropy
from modelpicker_core.model_selector import expected_information_gain
from modelpicker_core.speedtest import fast_loop_information_gain, loop_information_gain

PREDS = np.array([
    [0, 0, 0],  # 0 agree
    [0, 1, 1],  # 1
    [2, 2, 2],  # 2 agree
    [0, 1, 2],  # 3
])


def test_random_is_uniform_over_the_candidates():
    s = RandomSampling(3, 3, random_state=0)
    np.testing.assert_array_equal(s.score(PREDS), 0.0)
    candidates = np.array([True, False, True, True])
    chosen = [s.select(PREDS, candidates=candidates) for _ in range(300)]
    counts = np.bincount(chosen, minlength=4)
    assert counts[1] == 0 and all(counts[[0, 2, 3]] > 60)  # ~100 each


def test_disagreement_is_uniform_over_disagreeing_items_with_fallback():
    s = DisagreementSampling(3, 3, random_state=0)
    np.testing.assert_array_equal(s.score(PREDS), [0, 1, 0, 1])
    chosen = {s.select(PREDS) for _ in range(100)}
    assert chosen == {1, 3}
    only_agreement = np.array([True, False, True, False])
    assert {s.select(PREDS, candidates=only_agreement) for _ in range(100)} == {0, 2}


def test_vote_entropy_hand_computed():
    # [0, 0, 1, 2]: votes 1/2, 1/4, 1/4; H = -(0.5 ln 0.5 + 2 * 0.25 ln 0.25)
    #   = 0.346574 + 0.693147 = 1.039721 nats; [1, 1, 1, 1]: H = 0
    s = VoteEntropySampling(4, 3)
    np.testing.assert_allclose(s.score([[0, 0, 1, 2], [1, 1, 1, 1]]), [1.039721, 0.0], atol=1e-6)
    assert s.select([[0, 0, 1, 2], [1, 1, 1, 1], [0, 0, 1, 1]]) == 0  # ln 3-ish beats ln 2


def test_vote_entropy_many_classes_path_equals_grid_path():
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 40, (200, 5))
    preds[::4] = 7
    votes = np.stack([np.bincount(r, minlength=40) / 5 for r in preds])
    expected = -np.sum(np.where(votes > 0, votes * np.log(np.where(votes > 0, votes, 1)), 0), axis=1)
    np.testing.assert_allclose(vote_entropy(preds, 40), expected, atol=1e-12)


@pytest.mark.parametrize("cls", [RandomSampling, DisagreementSampling, VoteEntropySampling])
def test_baseline_pick_is_the_most_correct_model_ties_at_random(cls):
    picks = set()
    for seed in range(30):
        s = cls(3, 3, random_state=seed)
        np.testing.assert_allclose(s.p_best(), [1 / 3] * 3)  # before any label: all tied
        s.observe([0, 1, 1], 1)  # correct: [0, 1, 1]
        np.testing.assert_allclose(s.p_best(), [0, 0.5, 0.5])
        picks.add(s.best())
    assert picks == {1, 2}
    s = cls(3, 3)
    s.observe([0, 1, 1], 1)
    s.observe([2, 2, 0], 2)  # correct: [1, 2, 1]
    assert s.best() == 1 and s.p_best().tolist() == [0, 1, 0]


# ------------------------------------------------------------ Model Selector
def test_model_selector_expected_entropy_hand_checked():
    # 3 models, 3 classes, uniform w, eps = 0.25 so gamma = 3; item [0, 0, 1].
    # y = 0: w ∝ [3, 3, 1] / 7, H = 2 (3/7) log2(7/3) + (1/7) log2 7 = 1.047765 + 0.401051 = 1.448816
    # y = 1: w ∝ [1, 1, 3] / 5, H = 2 (1/5) log2 5 + (3/5) log2(5/3) = 0.928771 + 0.442179 = 1.370951
    # y = 2: w unchanged,       H = log2 3 = 1.584963
    h = [1.448816, 1.370951, 1.584963]
    # posterior class probabilities (eps + (1 - 2 eps) m_c) / (1 + (C - 2) eps), m = [2/3, 1/3, 0]:
    # (0.25 + 0.5 * 2/3) / 1.25 = 0.466667, (0.25 + 0.5 / 3) / 1.25 = 0.333333, 0.25 / 1.25 = 0.2
    # E = 0.466667 * 1.448816 + 0.333333 * 1.370951 + 0.2 * 1.584963
    #   = 0.676114 + 0.456984 + 0.316993 = 1.450090
    s = ModelSelector(3, 3, epsilon=0.25, class_prior="posterior")
    assert s.expected_entropy([[0, 0, 1]])[0] == pytest.approx(1.450090, abs=1e-6)
    assert s.expected_entropy([[0, 0, 1]])[0] == pytest.approx(
        (0.25 + 0.5 * 2 / 3) / 1.25 * h[0] + (0.25 + 0.5 / 3) / 1.25 * h[1] + 0.2 * h[2], abs=1e-6)
    # gain = H(w) - E = log2 3 - 1.450090 = 0.134872
    assert s.score([[0, 0, 1]])[0] == pytest.approx(0.134872, abs=1e-6)
    # uniform class probabilities (the public code, our default): (1.448816 + 1.370951 + 1.584963) / 3 = 1.468243
    u = ModelSelector(3, 3, epsilon=0.25)
    assert u.expected_entropy([[0, 0, 1]])[0] == pytest.approx(1.468243, abs=1e-6)


def test_model_selector_posterior_update_and_pick():
    s = ModelSelector(3, 3, epsilon=0.25, random_state=0)
    s.observe([0, 0, 1], 0)  # models 0 and 1 right: w ∝ [3, 3, 1]
    np.testing.assert_allclose(s.p_best(), [3 / 7, 3 / 7, 1 / 7])
    s.observe([1, 0, 1], 1)  # correct counts [2, 1, 1]: w ∝ [9, 3, 3]
    np.testing.assert_allclose(s.p_best(), [0.6, 0.2, 0.2])
    assert s.best() == 0
    # many labels do not overflow: the posterior is computed in log space
    big = ModelSelector(2, 2, epsilon=0.01)
    for _ in range(2000):
        big.observe([0, 1], 0)
    np.testing.assert_allclose(big.p_best(), [1.0, 0.0])


def test_model_selector_selects_the_lowest_expected_entropy():
    s = ModelSelector(4, 3, epsilon=0.3, random_state=0)
    s.observe([0, 0, 1, 2], 0)
    preds = np.array([[0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 1, 1], [2, 2, 2, 1]])
    entropy = s.expected_entropy(preds)
    disagreeing = [1, 2, 3]
    assert s.select(preds) == disagreeing[int(np.argmin(entropy[disagreeing]))]


def test_model_selector_never_labels_agreement_items_first_even_with_negative_gain():
    # a concentrated posterior: a label that could move weight to the unlikely
    # models raises the entropy, so with uniform class weights the gain is < 0
    s = ModelSelector(3, 3, epsilon=0.2, class_prior="uniform", random_state=0)
    for _ in range(4):
        s.observe([0, 1, 1], 0)
    preds = np.array([[2, 2, 2], [0, 1, 1]])
    gain = expected_information_gain(preds, s.p_best(), 3, 0.2, "uniform")
    assert gain[1] < 0
    assert s.select(preds) == 1


@pytest.mark.parametrize("class_prior", ["posterior", "uniform"])
@pytest.mark.parametrize("n_models,n_classes", [(6, 4), (4, 30), (1, 3)])
def test_model_selector_matches_the_per_item_loops(class_prior, n_models, n_classes):
    rng = np.random.default_rng(n_models + n_classes)
    preds = rng.integers(0, n_classes, (300, n_models))
    preds[::6] = preds[::6, :1]
    s = ModelSelector(n_models, n_classes, epsilon=0.4, class_prior=class_prior)
    for j in range(5):
        s.observe(preds[j], int(rng.integers(n_classes)))
    w = s.p_best().tolist()
    rows = preds.tolist()
    score = s.score(preds)
    np.testing.assert_allclose(score, loop_information_gain(rows, w, n_classes, 0.4, class_prior), atol=1e-12)
    np.testing.assert_allclose(score, fast_loop_information_gain(rows, w, n_classes, 0.4, class_prior),
                               atol=1e-12)


def test_model_selector_parameters_are_checked():
    with pytest.raises(ValueError, match="epsilon"):
        ModelSelector(3, 2, epsilon=0.5)
    with pytest.raises(ValueError, match="class_prior"):
        ModelSelector(3, 2, class_prior="votes")


# ---------------------------------------------- bad input, every strategy
@pytest.mark.parametrize("name", available())
def test_bad_input_is_named_for_every_strategy(name):
    s = make(name, 3, 2, random_state=0)
    s.set_pool(np.array([[0, 1, 1], [1, 1, 1]]))
    with pytest.raises(ValueError, match="label space"):
        s.observe([0, 1, 1], 2)
    with pytest.raises(ValueError, match="label"):
        s.observe([0, 1, 1], 0.5)
    with pytest.raises(ValueError, match="models"):
        s.observe([0, 1], 1)
    with pytest.raises(ValueError, match="models"):
        s.score([[0, 1, 1, 0]])
    with pytest.raises(ValueError, match="integer"):
        s.score([[0.5, 1, 1]])
    with pytest.raises(ValueError):  # pool strategies may word it as "not in the pool"
        s.score([[0, 1, 5]])
    for q in (0.0, 1.01, -1.0, math.nan):
        with pytest.raises(ValueError, match="query_probability"):
            s.observe([0, 1, 1], 1, query_probability=q)
    assert s.n_labels_ == 0  # nothing bad was counted
