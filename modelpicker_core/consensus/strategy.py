"""The :class:`Consensus` strategy: pool state and labels in, P(best), scores and selection out."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..base import Strategy, as_prediction_matrix, candidate_indices
from .dawid_skene import fit_consensus_prior
from .information import pattern_scores
from .params import ConsensusParams
from .patterns import PoolPatterns, confidence_halves
from .posterior import ClassPosterior, compute_posterior, effective_draws, unanimous_posterior
from .tally import LabelTally


class Consensus(Strategy):
    """Consensus Dawid-Skene belief + expected information gain on P(best).

    Parameters
    ----------
    n_models, n_classes, random_state : see :class:`~modelpicker_core.base.Strategy`.
    n_samples : Monte Carlo draws of the pool accuracies per belief update.
    prior_strength : pseudo-items behind each consensus recall prior and the
        class prior (weak: labels dominate after a few).
    group_strength : Dirichlet concentration of a pattern's class distribution
        around the Dawid-Skene posterior; smaller = trust the model less.
    temperatures : grid of temperatures ``tau`` that multiply the Dawid-Skene
        log-likelihood (``tau < 1`` tempers the independence assumption, which
        correlated models break).  The belief is a mixture over the grid,
        weighted by how well each ``tau`` predicted the labels seen so far
        (leave-one-out within each pattern), so the amount of trust in the
        consensus is learned from the labels.
    other_rate : ``(a, b)`` Beta prior of the rate at which the class of a
        disagreement item is one no model predicts there (see
        :func:`~modelpicker_core.consensus.dawid_skene.tempered`), updated by
        the labels; None = no separate rate, the Dawid-Skene posterior
        tempered as a whole.
    voter_counts : which models' votes the Dawid-Skene posterior listens to:
        ``0`` = every model, ``k`` = the ``k`` models of highest estimated
        accuracy.  Like the temperature, the choice is a mixture weighted by
        the labels' leave-one-out evidence.  Why: among many candidates, the
        weak ones tend to be wrong together on the hard items (the very items
        that separate the leaders), so their votes outweigh the strong
        models' and the consensus is confidently wrong there; listening to
        the strongest models only is the simplest fix the labels can pick.
        Counts not below ``n_models`` are the same as ``0``.
    n_evaluated : patterns whose information gain is computed exactly; the
        cheap proxy ranks the rest.  ``"auto"``: 32 for up to 10 models, 128
        above.  With 100 models the proxy misses the best items (many-models,
        100 realisations, seed 1: mean identification over 50-200 labels
        0.85 with 32, 0.93 with 128), while with 8 models 128 was no better
        on EmoContext (200 realisations, mean identification over 30-70
        labels: 0.90 with 32, 0.88 with 128): the more noisy Monte Carlo
        gains are compared, the more their maximum is chosen by the noise.
    max_contenders : most models kept in the Monte Carlo step.
    contender_z : z-score margin deciding which models can still be best.
    n_draws : joint draws of (recalls, class prior, temperature) from their
        posterior; each Monte Carlo sample uses one, so the shared uncertainty
        about the recalls (which moves every unlabelled item the same way)
        reaches P(best).  0 = posterior-mean recalls, mixture over temperatures.
        Fewer are used on big pools (:meth:`effective_draws`).
    full_confusion : model each annotator's full confusion matrix (Dirichlet
        rows) instead of per-class recall with errors spread like its
        predictions; ``"auto"`` = when ``n_classes <= 10`` and the pool is small
        enough for it to stay fast.
    exact_limit : above ``n_samples * live patterns * contenders`` cells the
        Monte Carlo step draws the contenders' counts from their
        central-limit normal approximation instead of item by item.
    unanimous_rate : ``(a, b)`` Beta prior of the rate at which the class of
        a unanimous item (every model predicts the same class) is another
        one, updated by labels on such items.  Tempering would spread their
        mass over every other class (EmoContext's accuracy estimates came out
        18-20 points low after 20-50 labels); untempered Dawid-Skene all but
        rules the error out, although correlated models make it (3.5% of
        EmoContext's unanimous items).  The selection never asks for these
        items, so the prior (mean 2.5%) mostly stays; its uncertainty widens
        every accuracy interval alike and leaves P(best) alone.
    gain_samples : Monte Carlo draws the information gain is computed from.

    Notes
    -----
    Call :meth:`set_pool` before scoring (``select`` takes the predictions it
    is given as the pool when no pool was set).  The state (JSON) holds the pool's
    predictions and confidence halves, so :func:`registry.from_state` rebuilds
    the identical strategy; class probabilities themselves are not stored.
    The parameters are also readable as attributes (``s.n_evaluated``).
    """

    name = "consensus"
    stochastic = False

    def __init__(self, n_models: int, n_classes: int, random_state: int | None = None,
                 n_samples: int = 512, prior_strength: float = 1.5, group_strength: float = 2.0,
                 temperatures: Any = (0.1, 0.2, 0.35, 0.5, 0.75, 1.0), other_rate: Any = (0.5, 9.5),
                 voter_counts: Any = (0, 25, 10), n_evaluated: Any = "auto", max_contenders: int = 16,
                 contender_z: float = 4.0, n_draws: int = 16, full_confusion: Any = False,
                 exact_limit: int = 4_000_000, unanimous_rate: Any = (0.5, 19.5), gain_samples: int = 256):
        self.settings = ConsensusParams.validated(
            n_models, n_samples=n_samples, prior_strength=prior_strength, group_strength=group_strength,
            temperatures=temperatures, voter_counts=voter_counts, other_rate=other_rate, n_evaluated=n_evaluated,
            max_contenders=max_contenders, contender_z=contender_z, n_draws=n_draws,
            full_confusion=full_confusion, exact_limit=exact_limit, gain_samples=gain_samples,
            unanimous_rate=unanimous_rate)
        super().__init__(n_models, n_classes, random_state)

    def __getattr__(self, name: str) -> Any:
        settings = self.__dict__.get("settings")
        if settings is not None and name in ConsensusParams.__dataclass_fields__:
            return getattr(settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), **self.settings.as_dict()}

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        super().reset()
        self.sample_seed_ = int(self.rng_.integers(2**63 - 1))
        self.pool_ = None
        self.bins_ = None
        self.labelled_items_: list[int] = []
        self.labelled_labels_: list[int] = []
        self.extra_rows_: list[list[int]] = []
        self._cache = None
        self._patterns = None

    def set_pool(self, predictions: Any, probabilities: Any = None) -> None:
        """Take the batch ``(n_items, n_models)`` (and optional probabilities).

        Labels already observed are forgotten if the pool changes shape; with
        the same pool they are kept (the backend calls this on every job).
        """
        preds = as_prediction_matrix(predictions, self.n_models)
        if preds.shape[0] == 0:
            raise ValueError("the pool has no items")
        if preds.min() < 0 or preds.max() >= self.n_classes:
            raise ValueError(f"pool predictions outside the label space 0..{self.n_classes - 1}")
        bins = None
        if probabilities is not None:
            bins = confidence_halves(preds, probabilities, self.n_classes)
        same = (self.pool_ is not None and self.pool_.shape == preds.shape and np.array_equal(self.pool_, preds)
                and ((bins is None) == (self.bins_ is None)) and (bins is None or np.array_equal(bins, self.bins_)))
        if same:
            return
        if self.labelled_items_:
            raise ValueError("set_pool with a different pool after labels were observed; call reset() first")
        self._install_pool(preds, bins)

    def _install_pool(self, preds: np.ndarray, bins: np.ndarray | None) -> None:
        self.pool_ = preds.astype(np.int64)
        self.bins_ = None if bins is None else bins.astype(np.int64)
        pat = PoolPatterns(self.pool_, self.n_classes, self.bins_)
        self._patterns = pat
        full = self.settings.full_confusion
        if full == "auto":
            full = self.n_classes <= 10 and pat.n_groups * self.n_models * self.n_classes <= 2_000_000
        self._tally = LabelTally.empty(pat, self.pool_.shape[0], self.n_models * pat.n_bins, self.n_classes,
                                       bool(full))
        self._prior = fit_consensus_prior(pat, self.n_models, self.n_classes, bool(full))
        self._row_index = None
        self._cache = None

    # ------------------------------------------------------------- observing
    def observe(self, prediction_row: Any, label: int, query_probability: float = 1.0,
                item: int | None = None) -> None:
        row = self._check_row(prediction_row)
        if self.pool_ is None:
            raise ValueError("call set_pool before observing labels with the consensus strategy")
        if item is None:
            item = self._find_unlabelled(row)
        elif not 0 <= int(item) < self.pool_.shape[0]:
            raise ValueError(f"item {item} is not a row of the pool (0..{self.pool_.shape[0] - 1})")
        if item is not None:
            item = int(item)
            if self._tally.labelled[item]:
                raise ValueError(f"item {item} is already labelled")
            if not np.array_equal(self.pool_[item], row):
                raise ValueError(f"prediction row does not match pool item {item}")
        super().observe(row, label, query_probability, item)

    def _find_unlabelled(self, row: np.ndarray) -> int | None:
        hits = np.flatnonzero(np.all(self.pool_ == row[None, :], axis=1) & ~self._tally.labelled)
        return int(hits[0]) if hits.size else None

    def _update(self, row: np.ndarray, label: int, q: float, item: int | None) -> None:
        if self.pool_ is None:
            raise ValueError("call set_pool before observing labels")
        if item is None:
            self.extra_rows_.append(row.tolist())
        self._tally.add(self._patterns, row, label, item)
        self.labelled_items_.append(-1 if item is None else int(item))
        self.labelled_labels_.append(int(label))
        self._cache = None

    # ------------------------------------------------------------- posterior
    def _posterior(self) -> ClassPosterior:
        if self.pool_ is None:
            raise ValueError("call set_pool before asking the consensus strategy for scores or P(best)")
        if self._cache is None:
            self._cache = compute_posterior(self._patterns, self._prior, self._tally, self.correct_,
                                         self.n_labels_, self.sample_seed_, self.settings)
        return self._cache

    def effective_draws(self) -> int:
        """Posterior draws used for this pool (:func:`~modelpicker_core.consensus.posterior.effective_draws`)."""
        return effective_draws(self.settings.n_draws, self._patterns.n_cells)

    def p_best(self) -> np.ndarray:
        """``(n_models,)`` posterior probability of being the pool's best; ties share."""
        if self.pool_ is None:
            return np.full(self.n_models, 1.0 / self.n_models)
        return self._posterior().draws.p_best.copy()

    def p_top(self) -> np.ndarray:
        """``(n_models,)`` posterior probability that each model is *a* true best (ties count for all).

        This is the probability that picking the model is right, the number a
        stopping rule should compare with its confidence.
        """
        if self.pool_ is None:
            return np.full(self.n_models, 1.0 / self.n_models)
        return self._posterior().draws.p_top.copy()

    def accuracy_estimate(self):
        """Pool accuracy of each model with a 95% interval (normal approximation)."""
        if self.pool_ is None:
            return super().accuracy_estimate()
        posterior = self._posterior()
        n = max(posterior.n_total, 1.0)
        var = posterior.var
        if self.settings.other_rate is not None:   # the unanimous items' shared error rate moves every model together
            a, b = unanimous_posterior(self._patterns, self._tally, self.settings.unanimous_rate)
            m = float(self._tally.unlabelled[self._patterns.n_slots_of == 1].sum())
            var = var + m * a * b * (a + b + m) / ((a + b) ** 2 * (a + b + 1.0))
        half = 1.96 * np.sqrt(var)
        acc = posterior.mean / n
        return acc, np.clip((posterior.mean - half) / n, 0, 1), np.clip((posterior.mean + half) / n, 0, 1), "pool"

    def correct_probability(self) -> np.ndarray:
        """``(n_items, n_models)`` predictive probability that each model is right on each pool item.

        The class probability of an unlabelled item of a pattern (the slot
        posterior), read at each model's predicted class; the control variate
        of the certified stop (:mod:`modelpicker_core.certificate`).
        """
        return self._posterior().slot_q[self._patterns.item_slot]

    # ---------------------------------------------------------------- scoring
    def pattern_scores(self) -> np.ndarray:
        """``(n_groups,)`` informativeness of one more label from each pattern."""
        posterior = self._posterior()
        return pattern_scores(posterior.draws, posterior.concentration, self._tally.unlabelled,
                              self._patterns.n_groups, self.settings.n_evaluated, self.settings.gain_samples)

    def _groups_of_rows(self, preds: np.ndarray) -> np.ndarray:
        """``(n_rows,)`` pattern of each row of ``preds`` (every row must be a pool pattern)."""
        if preds.shape == self.pool_.shape and np.array_equal(preds, self.pool_):
            return self._patterns.group_of
        if self._row_index is None:
            rows = self._patterns.rows
            self._row_index = {}
            for g in range(rows.shape[0] - 1, -1, -1):
                self._row_index[rows[g].tobytes()] = g
        out = np.empty(preds.shape[0], dtype=np.int64)
        for j, r in enumerate(preds.astype(np.int64)):
            g = self._row_index.get(r.tobytes())
            if g is None:
                raise ValueError(f"row {j} of the predictions is not a pattern of the pool given to set_pool")
            out[j] = g
        return out

    def score(self, predictions: Any, probabilities: Any = None) -> np.ndarray:
        """``(n_items,)`` information gain of labelling each item (rows must be pool patterns)."""
        preds = as_prediction_matrix(predictions, self.n_models)
        if self.pool_ is None:
            raise ValueError("call set_pool before scoring with the consensus strategy")
        return self.pattern_scores()[self._groups_of_rows(preds)]

    def select(self, predictions: Any, probabilities: Any = None, candidates: Any = None) -> int:
        preds = as_prediction_matrix(predictions, self.n_models)
        if self.pool_ is None:
            self.set_pool(preds, probabilities)
        idx = candidate_indices(candidates, preds.shape[0])
        scores = self.pattern_scores()[self._groups_of_rows(preds)[idx]]
        top = np.flatnonzero(scores >= scores.max() - 1e-12)
        return int(idx[self.rng_.choice(top)])

    # ------------------------------------------------------------------- JSON
    def _get_learned(self) -> dict[str, Any]:
        return {
            "sample_seed": self.sample_seed_,
            "pool": None if self.pool_ is None else self.pool_.tolist(),
            "bins": None if self.bins_ is None else self.bins_.tolist(),
            "labelled_items": list(self.labelled_items_),
            "labelled_labels": list(self.labelled_labels_),
            "extra_rows": [list(r) for r in self.extra_rows_],
        }

    def _set_learned(self, learned: dict[str, Any]) -> None:
        n_labels, correct = self.n_labels_, self.correct_.copy()
        self.sample_seed_ = int(learned["sample_seed"])
        self.labelled_items_, self.labelled_labels_ = [], []
        if learned["pool"] is not None:
            bins = None if learned["bins"] is None else np.asarray(learned["bins"], dtype=np.int64)
            self._install_pool(np.asarray(learned["pool"], dtype=np.int64), bins)
            extra = iter(learned.get("extra_rows", []))
            for item, label in zip(learned["labelled_items"], learned["labelled_labels"]):
                it = None if item < 0 else int(item)
                row = self.pool_[it] if it is not None else np.asarray(next(extra), dtype=np.int64)
                self._update(row, int(label), 1.0, it)
        self.n_labels_, self.correct_ = n_labels, correct
