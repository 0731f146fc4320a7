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
from collections.abc import Callable

import numpy as np

from . import registry
from .base import Ranking, Strategy
from .certificate import GapCertificate
from .loaders import Collection
from .stopping import CertifiedStop
from .votes import all_agree

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
    gap : ``(n_models,)`` certified bound on how far each model is below the best
        (accuracy units, with probability ``>= 1 - delta``; see :mod:`.certificate`).
    delta : that probability's complement.
    """

    strategy: Strategy
    labelled: list[tuple[int, int]]
    ranking: Ranking
    best: int
    stopped_early: str = ""
    gap: np.ndarray | None = None
    delta: float = 0.05


def pick_best_model(collection: Collection, budget: int, ask: AskLabel,
                    strategy: str = "modelpicker", seed: int | None = None, epsilon: float | None = None,
                    delta: float = 0.05) -> PickResult:
    """Ask for up to ``budget`` labels chosen by ``strategy`` and name the best model.

    Parameters
    ----------
    collection : predictions ``(n_items, n_models)``; true labels are not used.
    budget : maximum number of labels to ask for (>= 1).
    ask : callback returning the class index of an item, see :data:`AskLabel`.
    strategy : registry name of the selection strategy.
    seed : random state of the strategy (tie breaks).
    epsilon : stop before the budget once a model is certified at most
        ``epsilon`` below the best (:class:`~.stopping.CertifiedStop`); None = use the budget.
    delta : error probability of the certified bound.

    A strategy that draws its items (``certified``) keeps its own certificate;
    for the others the labels count as exact knowledge only.
    """
    if int(budget) < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    model = registry.make(strategy, collection.n_models, collection.n_classes, random_state=seed,
                          **registry.stop_params(strategy, 0.01 if epsilon is None else epsilon, delta))
    preds, probs = collection.predictions, collection.probabilities
    model.set_pool(preds, probs)
    side = None if hasattr(model, "gap") else GapCertificate(preds, delta)
    rule = None if epsilon is None else CertifiedStop(epsilon, delta)
    askable = ~all_agree(preds)
    labelled: list[tuple[int, int]] = []
    stopped = ""
    for step in range(1, int(budget) + 1):
        if not askable.any():
            stopped = "every remaining item has all models agreeing; more labels cannot separate the models"
            break
        item = model.select(preds, probs, candidates=askable)
        label = ask(item, step, int(budget))
        model.observe(preds[item], label, query_probability=1.0, item=item)
        if side is not None:
            side.observe(item, label)
        askable[item] = False
        labelled.append((int(item), int(label)))
        gap = model.gap() if side is None else side.gap()
        if rule is not None and rule.decide(gap, model.p_best(), len(labelled)).reason == "certified":
            stopped = f"a model is certified at most {100 * epsilon:.1f} points below the best ({1 - delta:.0%})"
            break
    ranking = model.ranking()
    gap = model.gap() if side is None else side.gap()
    return PickResult(model, labelled, ranking, ranking.best, stopped, gap, float(delta))
