"""Checkpoints share their unchanged arrays (backend/checkpoint_copy.py) and fits resumed from them are unchanged."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import modelpicker_core as core
from backend import checkpoint_copy
from backend.belief import fit_belief
from backend.checkpoint_copy import frozen_copy
from backend.labelconfig import parse_choices
from backend.store import Label

CHOICES = ("a", "b", "c")
CONFIG = ('<View><Text name="text" value="$t"/><Choices name="label" toName="text">'
          + "".join(f'<Choice value="{c}"/>' for c in CHOICES) + "</Choices></View>")


class State:
    def __init__(self, n: int):
        self.pool = np.arange(n * 10).reshape(n, 10)
        self.counts = np.zeros(n)
        self.parts = {"rows": [np.ones(n), np.zeros(n)]}


def test_a_frozen_copy_shares_what_did_not_change_and_nothing_with_the_live_state():
    live = State(10_000)
    first = frozen_copy(live)
    assert not np.shares_memory(first.pool, live.pool) and not first.pool.flags.writeable
    live.counts[3] = 1.0
    second = frozen_copy(live, first)
    assert second.pool is first.pool and second.parts["rows"][1] is first.parts["rows"][1]
    assert second.counts is not first.counts and second.counts[3] == 1.0 and first.counts[3] == 0.0
    assert not any(a.flags.writeable for _, a in checkpoint_copy.arrays(second))
    resumed = copy.deepcopy(second)  # what a fit continuing from a checkpoint works on
    assert resumed.pool.flags.writeable and not np.shares_memory(resumed.pool, second.pool)
    assert frozen_copy(None, first) is None


def test_small_or_different_arrays_are_copied():
    live = State(10)  # below SHARE_BYTES
    first = frozen_copy(live)
    assert frozen_copy(live, first).pool is not first.pool
    big = State(10_000)
    other = State(10_000)
    other.pool = other.pool + 1
    frozen_other = frozen_copy(other)
    copied = frozen_copy(big, frozen_other)
    assert not np.shares_memory(copied.pool, frozen_other.pool)
    np.testing.assert_array_equal(copied.pool, big.pool)
    assert copied.counts is frozen_other.counts  # equal (zeros) in both: shared


@pytest.mark.parametrize("strategy", sorted(core.available()))
def test_fits_resumed_from_shared_checkpoints_equal_full_replays(strategy, monkeypatch):
    monkeypatch.setattr(checkpoint_copy, "SHARE_BYTES", 0)  # share every equal array, however small
    rng = np.random.default_rng(5)
    choices = parse_choices(CONFIG)
    task_ids = np.arange(1, 61)
    truth = rng.integers(0, 3, 60)
    matrix = np.where(rng.random((60, 4)) < [0.8, 0.7, 0.6, 0.5], truth[:, None], rng.integers(0, 3, (60, 4)))
    labels, previous = [], None
    for step, task in enumerate(rng.permutation(60)[:25]):
        labels.append(Label(100 + step, int(task_ids[task]), CHOICES[int(truth[task])]))
        args = (1, strategy, 0, "fp", task_ids, matrix, choices, list(labels))
        continued = fit_belief(*args, history=2, previous=previous)
        full = fit_belief(*args, history=2)
        assert continued.model_version == full.model_version and continued.head == full.head
        np.testing.assert_array_equal(continued.priority, full.priority)
        np.testing.assert_array_equal(continued.gap, full.gap)
        np.testing.assert_array_equal(continued.strategy.p_top(), full.strategy.p_top())
        previous = continued
