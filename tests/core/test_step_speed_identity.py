"""The faster step computes the same numbers: each rewritten helper against the formula it replaced.

The certified strategy replays stored rounds by redrawing, so a faster step must give bit-identical draws
(no ``draw_rule`` bump).  Each test below keeps the replaced expression inline and compares exactly
(``np.array_equal``, same dtype and, where a later step depends on it, the same memory order).
"""
import numpy as np
import pytest
from scipy import sparse

from modelpicker_core.consensus.monte_carlo import at_categories, first_contender, same_category
from modelpicker_core.consensus.patterns import PoolPatterns
from modelpicker_core.consensus.posterior import PatternLayer
from modelpicker_core.consensus.tally import LabelTally
from modelpicker_core.focus import focus_item
from modelpicker_core.model_selector import PoolGain, expected_information_gain
from modelpicker_core.sampling import open_items, residual_spread, sampling_distribution
from modelpicker_core.votes import class_mass_blocks, compact_classes


def _pool(n_items=400, n_models=12, n_classes=5, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    right = rng.random((n_items, n_models)) < np.linspace(0.5, 0.9, n_models)
    wrong = (truth[:, None] + rng.integers(1, n_classes, (n_items, n_models))) % n_classes
    preds = np.where(right, truth[:, None], wrong).astype(np.int64)
    preds[:20] = truth[:20, None]                                     # some unanimous items
    return preds, rng.random((n_items, n_models)), rng


@pytest.mark.parametrize("values, dtype", [([0, 127], np.int8), ([0, 128], np.int16), ([-3, 5], np.int8),
                                           ([-200, 3], np.int16), ([0, 70_000], np.int64)])
def test_compact_classes_keeps_every_value(values, dtype):
    preds = np.array([values, values[::-1]], dtype=np.int64)
    compact = compact_classes(preds)
    assert compact.dtype == dtype and np.array_equal(compact, preds)


def _focus_reference(allowed, pool, leader, rivals, information_gain):
    """``focus_item`` as it was: ``differ`` over every item, int64 rows."""
    differ = pool[:, rivals] != pool[:, leader][:, None]
    idx = np.flatnonzero(allowed & differ.any(axis=1))
    if idx.size == 0:
        return None
    return int(idx[int(np.argmax(information_gain(pool[idx])))])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_focus_item_is_the_item_of_the_full_computation(seed):
    preds, _, rng = _pool(seed=seed)
    w = rng.dirichlet(np.ones(preds.shape[1]))
    gain = lambda rows: expected_information_gain(rows, w, 5, 0.4, "posterior")   # noqa: E731
    for _ in range(5):
        allowed = rng.random(preds.shape[0]) < 0.8
        leader = int(rng.integers(preds.shape[1]))
        rivals = np.flatnonzero((rng.random(preds.shape[1]) < 0.5) & (np.arange(preds.shape[1]) != leader))
        got = focus_item(allowed, preds, leader, rivals, gain)
        assert got == _focus_reference(allowed, preds, leader, rivals, gain)


def test_sampling_distribution_is_the_full_computation():
    preds, guess, rng = _pool(seed=3)
    unlabelled = rng.random(preds.shape[0]) < 0.9
    live = unlabelled & np.any(preds != preds[:, :1], axis=1)
    assert np.array_equal(open_items(preds, unlabelled), live)
    leader, rivals = 2, np.array([0, 5, 7, 11])
    q = sampling_distribution(preds, unlabelled, guess, leader, rivals, int(np.flatnonzero(live)[3]))
    v_a, v_b = guess[live][:, leader][:, None], guess[live][:, rivals]
    differ = preds[live][:, rivals] != preds[live][:, leader][:, None]
    part = np.sum(np.sqrt(np.clip(v_a + v_b - (v_a - v_b) ** 2, 0.0, None) + 0.1) * differ, axis=1)
    spread = np.zeros(preds.shape[0])
    spread[live] = part
    expected = np.zeros(preds.shape[0])
    expected[live] = 0.2 / live.sum()
    expected[np.flatnonzero(live)[3]] += 0.4
    expected += 0.4 * spread / spread.sum()
    assert np.array_equal(q, expected / expected.sum())
    assert np.array_equal(residual_spread(preds[live], guess[live], leader, rivals, 0.1), part)


def test_class_masses_do_not_depend_on_the_blocks_or_the_dtype():
    preds, _, rng = _pool(n_items=1000, seed=4)
    weights = np.stack([rng.dirichlet(np.ones(12)), rng.random(12)])
    whole = next(class_mass_blocks(preds, weights, 5))[1]
    for block, rows in ((7, preds), (128, compact_classes(preds)), (None, compact_classes(preds))):
        parts = np.concatenate([m for _, m in class_mass_blocks(rows, weights, 5, block=block)], axis=1)
        assert np.array_equal(parts, whole)


def test_first_contender_same_category_and_at_categories_match_their_broadcast_forms():
    rng = np.random.default_rng(5)
    for _ in range(50):
        n, u = int(rng.integers(1, 40)), int(rng.integers(2, 18))
        slots = np.arange(n)[:, None] * 20 + rng.integers(0, int(rng.integers(1, 6)), size=(n, u))
        category = first_contender(slots)
        reference = np.argmax(slots[:, :, None] == slots[:, None, :], axis=2)
        assert category.dtype == reference.dtype and np.array_equal(category, reference)
        same, broadcast = same_category(category), category[:, :, None] == category[:, None, :]
        assert same.flags.c_contiguous and np.array_equal(same, broadcast)
        p, p2 = rng.random((3, n, u + 1)), rng.random((n, u + 1))
        taken = at_categories(p, category)
        assert taken.flags.c_contiguous and np.array_equal(
            taken, np.take_along_axis(p, np.broadcast_to(category[None], (3,) + category.shape), axis=2))
        assert np.array_equal(at_categories(p2, category), np.take_along_axis(p2, category, axis=1))


def test_correct_moments_and_item_slots_are_the_stacked_product_and_the_double_gather():
    preds, _, rng = _pool(n_items=600, seed=6)
    pat = PoolPatterns(preds, 5, None)
    tally = LabelTally.empty(pat, preds.shape[0], preds.shape[1], 5, False)
    layer = PatternLayer.of(pat, tally, 2.0)
    slot_p, correct = rng.random(pat.slot_group.size), rng.random(preds.shape[1])
    slot_q, mean, var = layer.correct_moments(slot_p, correct)
    stacked = sparse.csr_matrix(layer.model_slots) @ np.column_stack(
        [layer.slot_unlabelled * slot_q, layer.slot_overdispersion * slot_q * (1 - slot_q)])
    assert np.array_equal(mean, correct + stacked[:, 0]) and np.array_equal(var, stacked[:, 1])
    assert np.array_equal(slot_q[pat.item_slot], slot_q[pat.slot_of][pat.group_of])


@pytest.mark.parametrize("class_prior", ["posterior", "uniform"])
def test_pool_gain_is_expected_information_gain_of_the_rows(class_prior):
    preds, _, rng = _pool(n_items=700, seed=7)
    gain = PoolGain.of(preds, 5)
    items = np.flatnonzero(rng.random(preds.shape[0]) < 0.7)
    for _ in range(3):
        w = rng.dirichlet(np.full(preds.shape[1], 0.5))
        assert np.array_equal(gain.at(items, w, 0.4, class_prior),
                              expected_information_gain(preds[items], w, 5, 0.4, class_prior))
    assert PoolGain.of(preds, preds.shape[1] + 1) is None   # more classes than models: the default form


def test_focus_item_with_gains_by_index_is_the_same_item():
    preds, _, rng = _pool(seed=8)
    w = rng.dirichlet(np.ones(preds.shape[1]))
    by_rows = lambda rows: expected_information_gain(rows, w, 5, 0.4, "posterior")   # noqa: E731
    by_index = lambda items: PoolGain.of(preds, 5).at(items, w, 0.4)                 # noqa: E731
    for _ in range(5):
        allowed = rng.random(preds.shape[0]) < 0.8
        rivals = np.flatnonzero(rng.random(preds.shape[1]) < 0.5)
        rivals = rivals[rivals != 3]
        assert focus_item(allowed, preds, 3, rivals, by_rows) == focus_item(allowed, preds, 3, rivals, by_rows,
                                                                            gain_at=by_index)
