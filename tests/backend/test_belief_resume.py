"""A belief continued from the previous one (only the new labels replayed) equals a full replay.

The refit after each label used to replay every label, ``O(n_labels * n_tasks)``: 56 s at 3,000 labels of a
3,300-task project with the certified strategy, inside the worker's refresh and any reader's /rankings.
"""
from __future__ import annotations

import numpy as np
import pytest

import modelpicker_core as core
from backend.belief import fit_belief
from backend.labelconfig import parse_choices
from backend.store import Label

CHOICES = ("a", "b", "c")
CONFIG = ('<View><Text name="text" value="$t"/><Choices name="label" toName="text">'
          + "".join(f'<Choice value="{c}"/>' for c in CHOICES) + "</Choices></View>")


def same(x, y):
    assert x.model_version == y.model_version and x.n_labels == y.n_labels and x.head == y.head
    np.testing.assert_array_equal(x.labels, y.labels)
    np.testing.assert_array_equal(x.priority, y.priority)
    np.testing.assert_array_equal(x.informativeness, y.informativeness)
    np.testing.assert_array_equal(x.p_history, y.p_history)
    np.testing.assert_array_equal(x.gap, y.gap)
    np.testing.assert_array_equal(x.strategy.p_top(), y.strategy.p_top())
    assert x.strategy.ranking().to_records(["m0", "m1", "m2", "m3"]) == \
        y.strategy.ranking().to_records(["m0", "m1", "m2", "m3"])


@pytest.mark.parametrize("strategy", sorted(core.available()))
@pytest.mark.parametrize("seed", [0, 1])
def test_continued_fits_equal_full_replays(strategy, seed):
    rng = np.random.default_rng(seed)
    choices = parse_choices(CONFIG)
    n_tasks = 60
    task_ids = np.arange(10, 10 + n_tasks)
    truth = rng.integers(0, 3, n_tasks)
    matrix = np.where(rng.random((n_tasks, 4)) < [0.8, 0.7, 0.6, 0.5], truth[:, None],
                      rng.integers(0, 3, (n_tasks, 4)))
    order = rng.permutation(n_tasks)[:40]
    labels, previous, steps = [], None, [1, 2, 5, 6, 13, 20, 21, 30, 40]
    annotation = 1000
    for k, stop in enumerate(steps):
        while len(labels) < stop:
            task = int(task_ids[order[len(labels)]])
            annotation += int(rng.integers(1, 4))
            labels.append(Label(annotation, task, CHOICES[int(truth[task - 10])]))
        args = (1, strategy, seed, "fp", task_ids, matrix, choices, list(labels))
        full = fit_belief(*args, history=2)
        continued = fit_belief(*args, history=2, previous=previous)
        same(continued, full)
        previous = continued if k % 3 else full      # continue from continued and from full fits alike


@pytest.mark.parametrize("strategy", ["certified", "consensus", "modelpicker"])
def test_labels_out_of_id_order_or_removed_resume_from_an_earlier_checkpoint(strategy, monkeypatch):
    """Concurrent annotators: a label confirmed late has a lower annotation id than labels replayed already,
    and a deleted annotation removes one; the fit resumes from a checkpoint before the change."""
    import backend.belief as belief_module

    resumed = []
    real = belief_module._resume_point

    def spy(*args):
        point = real(*args)
        resumed.append(None if point is None else point.n)
        return point

    monkeypatch.setattr(belief_module, "_resume_point", spy)
    rng = np.random.default_rng(7)
    choices = parse_choices(CONFIG)
    n_tasks = 80
    task_ids = np.arange(1, n_tasks + 1)
    matrix = rng.integers(0, 3, (n_tasks, 4))
    ids = rng.permutation(np.arange(1000, 1000 + n_tasks))  # annotation ids in the order they are confirmed
    labels, previous, behind = [], None, []
    for step in range(45):
        labels.append(Label(int(ids[step]), int(task_ids[step]), CHOICES[step % 3]))
        if step % 11 == 10:
            labels.pop(int(rng.integers(len(labels))))     # an annotation deleted
        args = (1, strategy, 3, "fp", task_ids, matrix, choices, list(labels))
        continued = fit_belief(*args, history=2, previous=previous)
        if previous is not None and resumed[-1]:
            behind.append(len(previous.replay) - resumed[-1])  # labels of the previous replay redone
        same(continued, fit_belief(*args, history=2))
        assert len(continued.checkpoints) <= 2 + int(np.log2(max(len(continued.replay), 1))) + 1
        previous = continued
    assert len(behind) > 30                               # most fits continued ...
    assert max(behind) > 0 and min(behind) == 0           # ... from the final state or from further back


def test_other_settings_or_tasks_replay_from_the_start():
    from backend.belief import _resume_point, replay_order

    choices = parse_choices(CONFIG)
    task_ids = np.arange(1, 21)
    matrix = np.random.default_rng(0).integers(0, 3, (20, 4))
    first = [Label(100 + t, t, "a") for t in range(1, 6)]
    base = fit_belief(1, "certified", 0, "fp", task_ids, matrix, choices, first, history=2)
    more = first + [Label(200, 9, "b")]
    _, replay = replay_order(task_ids, more, choices)
    assert _resume_point(base, base.fit_key, task_ids, matrix, replay).n == 5
    other = fit_belief(1, "certified", 1, "fp", task_ids, matrix, choices, first, history=2)
    assert _resume_point(base, other.fit_key, task_ids, matrix, replay) is None       # another seed
    assert _resume_point(base, base.fit_key, task_ids, matrix[::-1].copy(), replay) is None  # other predictions
    _, fewer = replay_order(task_ids, first[:3], choices)
    assert _resume_point(base, base.fit_key, task_ids, matrix, fewer).n < 3          # labels removed
