"""Realisations and the processes that run them.

Realisation ``r`` draws everything from ``SeedSequence(seed, spawn_key=(0, r))``
and pilot ``p`` from ``SeedSequence(seed, spawn_key=(1, p))``; the collection
is handed to each worker process once (:class:`Mapper`), and tasks name
realisations by index, so results do not depend on the number of workers.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import registry
from ..base import Strategy
from ..loaders import Collection


def true_best(predictions: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracies ``(n_models,)`` and the boolean mask ``(n_models,)`` of the tied best models."""
    correct = np.sum(predictions == labels[:, None], axis=0)
    return correct / labels.shape[0], correct == correct.max()


def realisation_seed(seed: int, purpose: int, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(seed), spawn_key=(purpose, int(index)))


def _child(seq: np.random.SeedSequence, key: int) -> np.random.SeedSequence:
    """A fixed child of ``seq`` (1 = the strategy's random_state, 2 = the harness's coins)."""
    return np.random.SeedSequence(seq.entropy, spawn_key=seq.spawn_key + (key,))


def _strategy_seed(seq: np.random.SeedSequence) -> int:
    return int(_child(seq, 1).generate_state(1)[0])


def draw_items(seq: np.random.SeedSequence, n_total: int, size: int) -> np.ndarray:
    """``(size,)`` item indices drawn without replacement, in random order."""
    return np.random.default_rng(seq).permutation(n_total)[:size]


# ------------------------------------------------- worker-side realisation
_WORKER: dict[str, Any] = {}


def _init_worker(collection: Collection) -> None:
    _WORKER["collection"] = collection


def _make(name: str, collection: Collection, seq: np.random.SeedSequence, **params: Any) -> Strategy:
    return registry.make(name, collection.n_models, collection.n_classes,
                         random_state=_strategy_seed(seq), **params)


def _realisation(seed: int, purpose: int, index: int, size: int):
    """The items of one realisation of the worker's collection and its true best models.

    Returns ``(collection, seed sequence, items, predictions (size, n_models), labels (size,),
    accuracy (n_models,), best (n_models,) bool)``.
    """
    col = _WORKER["collection"]
    seq = realisation_seed(seed, purpose, index)
    items = draw_items(seq, col.n_items, size)
    preds, labels = col.predictions[items], col.labels[items]
    accuracy, best = true_best(preds, labels)
    return col, seq, items, preds, labels, accuracy, best


class Mapper:
    """Ordered map over tasks, in this process or a worker pool."""

    def __init__(self, collection: Collection, workers: int):
        self.pool = None
        self.workers = workers
        if workers > 1:
            self.pool = multiprocessing.get_context().Pool(workers, initializer=_init_worker, initargs=(collection,))
        else:
            _init_worker(collection)

    def imap(self, func: Callable, tasks: list) -> Iterable:
        if self.pool is None:
            return map(func, tasks)
        chunk = max(1, len(tasks) // (8 * self.workers))
        return self.pool.imap(func, tasks, chunksize=chunk)

    def close(self, abort: bool = False) -> None:
        """Wait for the workers; with ``abort`` (an error or Ctrl-C) stop them without finishing their tasks."""
        if self.pool is not None:
            if abort:
                self.pool.terminate()
            else:
                self.pool.close()
            self.pool.join()
