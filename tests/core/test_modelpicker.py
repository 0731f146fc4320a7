"""ModelPicker: hand-computed query probabilities and posteriors, the floor and
the cap, ties, agreement items, the stream loop as published, exactness of the
vectorised code against the per-item loops, and bad input."""
import math

import numpy as np
import pytest

from modelpicker_core import ModelPicker
from modelpicker_core.modelpicker import agreement, max_disagreement
from modelpicker_core.speedtest import fast_loop_query_probability, loop_query_probability
from modelpicker_core.votes import all_agree, class_mass, compact_predictions

# 4 models, 3 classes; item [0, 0, 1, 2]: with uniform w = 1/4 the class masses
# are m0 = 0.5, m1 = 0.25, m2 = 0.25, so l_c (1 - l_c) = m_c (1 - m_c) is
# 0.25, 0.1875, 0.1875 and the maximum is 0.25.
ROW = [0, 0, 1, 2]
ETA0_K4 = math.sqrt(math.log(4) / 2)  # = sqrt(0.693147 / 2) = 0.832555


def test_learning_rate_is_eta0_over_sqrt_t():
    mp = ModelPicker(4, 3)
    assert mp.eta0 == pytest.approx(0.832555, abs=1e-6)
    assert mp.t_ == 1 and mp.eta() == pytest.approx(ETA0_K4)
    mp.advance(3)  # items 1..3 streamed, none queried: next is t = 4
    assert mp.eta() == pytest.approx(ETA0_K4 / 2)  # 0.832555 / sqrt(4) = 0.416277


def test_query_probability_hand_computed_with_floor_and_cap():
    # scaling 2: u = 2 * 0.25 = 0.5; at t = 1 the floor eta_1 = 0.832555 > 0.5 wins
    assert ModelPicker(4, 3, scaling=2.0).query_probability(ROW)[0] == pytest.approx(ETA0_K4)
    # without the floor: 0.5
    assert ModelPicker(4, 3, scaling=2.0, floor=False).query_probability(ROW)[0] == pytest.approx(0.5)
    # at t = 100, eta = 0.0832555 < 0.5: the scaled value stands
    mp = ModelPicker(4, 3, scaling=2.0)
    mp.advance(99)
    assert mp.query_probability(ROW)[0] == pytest.approx(0.5)
    # scaling 0.1: u = 0.025 < eta_100 = 0.0832555, so the floor applies
    mp = ModelPicker(4, 3, scaling=0.1)
    mp.advance(99)
    assert mp.query_probability(ROW)[0] == pytest.approx(ETA0_K4 / 10)
    # scaling 10: u = 2.5, capped at 1
    assert ModelPicker(4, 3, scaling=10.0, floor=False).query_probability(ROW)[0] == 1.0


def test_pool_score_is_the_unfloored_disagreement():
    mp = ModelPicker(4, 3, scaling=7.0)
    np.testing.assert_allclose(mp.score([ROW, [1, 1, 2, 2], [2, 2, 2, 2]]), [0.25, 0.25, 0.0])


def test_posterior_after_an_importance_weighted_label():
    mp = ModelPicker(4, 3)
    mp.observe(ROW, 0, query_probability=0.5)
    # models 2 and 3 are wrong: L = [0, 0, 1/0.5, 1/0.5] = [0, 0, 2, 2]; next t = 2
    np.testing.assert_allclose(mp.loss_, [0, 0, 2, 2])
    assert mp.t_ == 2
    # eta_2 = 0.832555 / sqrt(2) = 0.588705; exp(-0.588705 * 2) = exp(-1.177410) = 0.308076
    # w = [1, 1, 0.308076, 0.308076] / 2.616151 = [0.382241, 0.382241, 0.117759, 0.117759]
    np.testing.assert_allclose(mp.p_best(), [0.382241, 0.382241, 0.117759, 0.117759], atol=1e-6)


def test_query_probability_after_the_label_uses_the_new_posterior():
    mp = ModelPicker(4, 3, floor=False)
    mp.observe(ROW, 0, query_probability=0.5)
    # item [0, 1, 1, 1]: m0 = 0.382241, m1 = 0.617759; m0 (1 - m0) = 0.236133
    assert mp.query_probability([0, 1, 1, 1])[0] == pytest.approx(0.236133, abs=1e-6)


def test_pool_labels_count_plain_mistakes():
    mp = ModelPicker(3, 2)
    mp.observe([0, 1, 1], 1)  # query_probability defaults to 1 (pool form)
    mp.observe([0, 0, 1], 1)
    np.testing.assert_allclose(mp.loss_, [2, 1, 0])
    assert mp.t_ == 3 and mp.n_labels_ == 2


def test_ties_pick_among_the_tied_best_only():
    picks = set()
    for seed in range(40):
        mp = ModelPicker(4, 3, random_state=seed)
        mp.observe(ROW, 0)  # models 0 and 1 right, 2 and 3 wrong: 0 and 1 tie
        picks.add(mp.best())
    assert picks == {0, 1}


def test_pick_is_the_lowest_loss():
    mp = ModelPicker(3, 2, random_state=0)
    mp.observe([0, 1, 1], 1)
    mp.observe([1, 0, 1], 1)
    assert mp.best() == 2  # losses [1, 1, 0]


def test_agreement_items_are_never_queried():
    mp = ModelPicker(3, 4, random_state=0, scaling=1e6)
    u = mp.query_probability([[2, 2, 2], [0, 0, 0], [1, 2, 1]])
    np.testing.assert_array_equal(u, [0.0, 0.0, 1.0])

    def oracle():
        raise AssertionError("an agreement item was queried")

    for _ in range(200):
        assert mp.stream_step([3, 3, 3], oracle) == (False, 0.0)
    assert mp.t_ == 201  # every streamed item counted


def test_pool_selection_prefers_any_disagreement_over_agreement():
    preds = np.array([[1, 1, 1]] * 50 + [[0, 1, 1]])
    for seed in range(10):
        assert ModelPicker(3, 2, random_state=seed).select(preds) == 50


def test_stream_matches_the_published_loop():
    """Same coin flips as a literal transcription of the public experiment loop."""
    rng = np.random.default_rng(5)
    k, n_classes, n = 5, 3, 300
    preds = rng.integers(0, n_classes, (n, k))
    preds[rng.random(n) < 0.3] = 1  # some agreement items
    labels = rng.integers(0, n_classes, n)
    scaling, seed = 0.8, 11

    mp = ModelPicker(k, n_classes, random_state=seed, scaling=scaling)
    queried = [mp.stream_step(preds[t], lambda t=t: labels[t])[0] for t in range(n)]

    coins = np.random.default_rng(seed)
    loss = np.zeros(k)
    expected = []
    for t in range(1, n + 1):  # t indexes every streamed item, from 1
        eta = math.sqrt(math.log(k) / 2) / math.sqrt(t)
        w = np.exp(-eta * (loss - loss.min()))
        w /= w.sum()
        row = preds[t - 1]
        u = scaling * max(float(w @ (row != c)) * (1 - float(w @ (row != c))) for c in range(n_classes))
        u = min(u, 1.0)
        if len(set(row.tolist())) == 1:
            expected.append(False)
            continue
        u = min(max(u, eta), 1.0)
        z = coins.random() < u
        expected.append(bool(z))
        if z:
            loss += (row != labels[t - 1]) / u
    assert queried == expected
    np.testing.assert_allclose(mp.loss_, loss)
    assert mp.t_ == n + 1


def test_seeded_streams_repeat_exactly():
    rng = np.random.default_rng(1)
    preds = rng.integers(0, 3, (200, 6))
    labels = rng.integers(0, 3, 200)

    def run(seed):
        mp = ModelPicker(6, 3, random_state=seed, scaling=0.5)
        return [mp.stream_step(p, lambda y=y: y)[0] for p, y in zip(preds, labels)], mp.best()

    assert run(3) == run(3)
    assert run(3)[0] != run(4)[0]


@pytest.mark.parametrize("n_models,n_classes", [(7, 4), (5, 40), (30, 3), (1, 2)])
def test_vectorised_matches_the_per_item_loops(n_models, n_classes):
    rng = np.random.default_rng(n_models * 100 + n_classes)
    preds = rng.integers(0, n_classes, (400, n_models))
    preds[::5] = preds[::5, :1]  # agreement items
    mp = ModelPicker(n_models, n_classes, scaling=1.7)
    mp.observe(preds[1], 0, query_probability=0.3)
    mp.advance(10)
    w = mp.posterior().tolist()
    rows = preds.tolist()
    u = mp.query_probability(preds)
    np.testing.assert_allclose(u, loop_query_probability(rows, w, n_classes, 1.7, mp.eta()), atol=1e-12)
    np.testing.assert_allclose(u, fast_loop_query_probability(rows, w, 1.7, mp.eta()), atol=1e-12)


def test_agreement_shortcut_equals_direct_comparison_also_for_tiny_weights():
    rng = np.random.default_rng(2)
    preds = rng.integers(0, 3, (500, 4))
    preds[::3] = 2
    direct = np.all(preds == preds[:, :1], axis=1)
    for w in ([0.25] * 4, [1 - 3e-12, 1e-12, 1e-12, 1e-12], [0.5, 0.5, 0.0, 0.0]):
        w = np.asarray(w)
        np.testing.assert_array_equal(agreement(preds, max_disagreement(preds, w, 3), w), direct)
    np.testing.assert_array_equal(all_agree(preds), direct)


def test_class_mass_and_compact_dtype():
    preds = compact_predictions([[0, 0, 1, 2], [2, 2, 2, 2]], 4, 3)
    assert preds.dtype == np.int16
    np.testing.assert_allclose(class_mass(preds, np.full(4, 0.25), 3), [[0.5, 0.25, 0.25], [0, 0, 1]])


def test_many_classes_path_equals_the_grid_path():
    rng = np.random.default_rng(3)
    preds = rng.integers(0, 50, (300, 6))
    w = rng.random(6)
    w /= w.sum()
    grid = class_mass(preds, w, 50)
    np.testing.assert_allclose(max_disagreement(preds, w, 50), np.max(grid * (1 - grid), axis=1), atol=1e-15)


def test_bad_input_is_named():
    mp = ModelPicker(3, 2)
    with pytest.raises(ValueError, match="outside the label space"):
        mp.query_probability([[0, 1, 2]])
    with pytest.raises(ValueError, match="outside the label space"):
        mp.score([[0, -1, 1]])
    with pytest.raises(ValueError, match="3 models, strategy expects 4|strategy expects"):
        ModelPicker(4, 2).query_probability([[0, 1, 1]])
    with pytest.raises(ValueError, match="integer"):
        mp.query_probability([[0.5, 1, 1]])
    with pytest.raises(ValueError, match="scaling"):
        ModelPicker(3, 2, scaling=0)
    with pytest.raises(ValueError, match="advance"):
        mp.advance(-1)
    for q in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="query_probability"):
            mp.observe([0, 1, 1], 1, query_probability=q)
