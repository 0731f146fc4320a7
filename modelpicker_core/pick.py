"""Picking the best model by asking a person for a few labels.

The original ModelPicker tool's use without Label Studio: the strategy
chooses the next item among the unlabelled ones on which the models disagree
(pool protocol: :meth:`~modelpicker_core.base.Strategy.select`, then
:meth:`~modelpicker_core.base.Strategy.observe` with ``item=row``), a callback
obtains its label, and after the budget the strategy's ranking names the best
model.  Items on which every model agrees are never asked: their label cannot
separate the models.  The I/O (terminal, piped input) lives in
:mod:`modelpicker_core.cli.pick`; this module only runs the loop.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from . import registry
from .base import Ranking, Strategy
from .loaders import Collection

#: ``ask(item, step, budget) -> class index``: the label of row ``item``
#: for the ``step``-th question (1-based) out of at most ``budget``.
AskLabel = Callable[[int, int, int], int]


@dataclasses.dataclass
class PickResult:
    """Outcome of :func:`pick_best_model`.

    Attributes
    ----------
    strategy : the strategy after all labels (its state is the evidence).
    labelled : ``[(item_row, class_index), ...]`` in the order asked.
    ranking : the strategy's final ranking.
    best : column index of the picked model (rank 1 of ``ranking``).
    stopped_early : reason when fewer than ``budget`` labels were asked, else "".
    """

    strategy: Strategy
    labelled: list[tuple[int, int]]
    ranking: Ranking
    best: int
    stopped_early: str = ""


def pick_best_model(collection: Collection, budget: int, ask: AskLabel,
                    strategy: str = "modelpicker", seed: int | None = None) -> PickResult:
    """Ask for up to ``budget`` labels chosen by ``strategy`` and name the best model.

    Parameters
    ----------
    collection : predictions ``(n_items, n_models)``; true labels are not used.
    budget : maximum number of labels to ask for (>= 1).
    ask : callback returning the class index of an item, see :data:`AskLabel`.
    strategy : registry name of the selection strategy.
    seed : random state of the strategy (tie breaks).
    """
    if int(budget) < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    model = registry.make(strategy, collection.n_models, collection.n_classes, random_state=seed)
    preds, probs = collection.predictions, collection.probabilities
    model.set_pool(preds, probs)
    askable = np.any(preds != preds[:, :1], axis=1)
    labelled: list[tuple[int, int]] = []
    stopped = ""
    for step in range(1, int(budget) + 1):
        if not askable.any():
            stopped = "every remaining item has all models agreeing; more labels cannot separate the models"
            break
        item = model.select(preds, probs, candidates=askable)
        label = ask(item, step, int(budget))
        model.observe(preds[item], label, query_probability=1.0, item=item)
        askable[item] = False
        labelled.append((int(item), int(label)))
    ranking = model.ranking()
    return PickResult(model, labelled, ranking, ranking.best, stopped)
