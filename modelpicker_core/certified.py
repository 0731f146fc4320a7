"""Certified: the default strategy, fast when the consensus is right and never fooled by it.

Three parts, each replaceable:

* a **guide** (``consensus`` by default): a belief built from the candidates'
  agreement.  On batches like EmoContext it finds the best model in few
  labels; after a distribution shift, when most candidates fail together, it
  is confidently wrong.
* a **robust** belief (``model_selector`` by default): learns only from the
  labels' agreement with each candidate, so shared failures cannot fool it.
* **trust** in the guide, learned from the labels: the log odds that the
  guide predicts the labels of contested items better than an uninformed
  guess (uniform over the classes the candidates predict there), summed over
  the labels so far (a prequential Bayes factor).  P(best) and the pick are
  the trust-weighted mixture of the two beliefs, so a guide whose labels
  come out wrong loses its say within a few labels.

Every label is *drawn* from a recorded distribution (:mod:`.sampling`): the
guide's most informative item with a fixed share, the residual spread of the
pairs the stop waits for, and a uniform share over every open item.  That is
what lets :class:`~modelpicker_core.certificate.GapCertificate` state a bound
that holds whatever the beliefs got wrong; the beliefs only decide how fast it
shrinks.  The guide's class probabilities are the certificate's control
variate.

Labels that the strategy did not draw (``observe`` of an item other than the
one :meth:`Certified.draw` returned last) still count as exact knowledge.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import registry
from .base import Strategy, as_prediction_matrix, candidate_indices
from .certificate import Draw, GapCertificate
from .modelpicker import all_agree
from .sampling import sampling_distribution

#: probability of a label no candidate predicts under the uninformed guess of the trust test
UNINFORMED_OTHER = 0.05
#: with ``split``, a belief's guided item is skipped below this share (saves its scoring)
SPLIT_MIN_SHARE = 0.02


class Certified(Strategy):
    """Drawn labels, a trust-weighted belief, and a certified gap bound.

    Parameters
    ----------
    n_models, n_classes, random_state : see :class:`~modelpicker_core.base.Strategy`.
    guide : registry name of the guide belief; it must offer ``correct_probability()``
        and ``label_probability(item, label)`` (``consensus`` does).
    robust : registry name of the label-only belief.
    delta : error probability of the certified bound.
    epsilon : gap the sampling aims to certify (the leader's rivals are the
        models it is not yet certified within ``epsilon`` of).
    exploration : share of the uniform part of the draw (every open item keeps
        at least ``exploration / n_open``: the certificate's worst-case weight).
    guided : share of the guided part (the most informative item of the belief
        in charge) while the guide is fully trusted.
    guided_untrusted : that share when the guide has lost all trust (the share
        moves linearly with :attr:`trust` in between); None = ``guided``.
    trust_prior : prior log odds of trusting the guide.
    trust_outlier : share of the uninformed guess mixed into the guide's label
        prediction in the trust test, so one confidently wrong prediction (a
        noisy label) costs at most ``log(1 / trust_outlier)``.
    trust_sharpness : the mixture weight is ``sigmoid(trust_sharpness * log odds)``.
    floor : added to each residual variance of the residual part (large: every
        disagreement of the leader with a rival counts alike, what the exact
        part of the bound needs; small: follow the guide's uncertainty).
    residual : ``"spread"`` or ``"gain"``, what the residual part of the draw
        follows (see :func:`~modelpicker_core.sampling.sampling_distribution`).
    power : exponent of the ``"gain"`` residual.
    leader : whose bounds the residual part raises: ``"gap"`` (the model of smallest
        certified gap, the one the stop would name now) or ``"pick"`` (the model of
        highest P(best), the one the stop should name).
    split : the guided share goes to the guide's most informative item with
        weight :attr:`trust` and to the robust belief's with weight ``1 - trust``
        (False: all of it to the belief in charge, the guide when ``trust >= 0.5``).
    max_rivals : the residual part follows the leader against at most this many
        rivals (the most probable best ones), which bounds its cost.
    """

    name = "certified"
    stochastic = False

    def __init__(self, n_models: int, n_classes: int, random_state: int | None = None,
                 guide: str = "consensus", robust: str = "model_selector", delta: float = 0.05,
                 epsilon: float = 0.01, exploration: float = 0.1, guided: float = 0.7,
                 guided_untrusted: float | None = None, trust_prior: float = 1.0, trust_outlier: float = 0.2,
                 trust_sharpness: float = 1.0,
                 floor: float = 0.1, residual: str = "spread", power: float = 2.0, split: bool = False,
                 leader: str = "gap", max_rivals: int = 16):
        self.guide = str(guide)
        self.robust = str(robust)
        self.delta = float(delta)
        self.epsilon = float(epsilon)
        self.exploration = float(exploration)
        self.guided = float(guided)
        self.guided_untrusted = self.guided if guided_untrusted is None else float(guided_untrusted)
        self.trust_prior = float(trust_prior)
        self.trust_sharpness = float(trust_sharpness)
        self.trust_outlier = float(trust_outlier)
        if not 0.0 <= self.trust_outlier < 1.0:
            raise ValueError(f"trust_outlier must be in [0, 1), got {trust_outlier}")
        self.max_rivals = int(max_rivals)
        self.split = bool(split)
        self.floor = float(floor)
        self.residual = str(residual)
        self.leader = str(leader)
        if self.leader not in ("gap", "pick"):
            raise ValueError(f"leader must be 'gap' or 'pick', got {leader!r}")
        self.power = float(power)
        if self.residual not in ("spread", "gain"):
            raise ValueError(f"residual must be 'spread' or 'gain', got {residual!r}")
        if not self.floor > 0:
            raise ValueError(f"floor must be > 0, got {floor}")
        if self.max_rivals < 1:
            raise ValueError(f"max_rivals must be >= 1, got {max_rivals}")
        if not 0.0 < self.delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta}")
        if not 0.0 <= self.epsilon < 1.0:
            raise ValueError(f"epsilon must be in [0, 1), got {epsilon}")
        for share in (self.guided, self.guided_untrusted):
            if not 0.0 < self.exploration <= 1.0 or not 0.0 <= share <= 1.0 - self.exploration:
                raise ValueError("need 0 < exploration <= 1 and 0 <= guided, guided_untrusted <= 1 - exploration")
        registry.get(self.guide), registry.get(self.robust)
        super().__init__(n_models, n_classes, random_state)

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "guide": self.guide, "robust": self.robust, "delta": self.delta,
                "epsilon": self.epsilon, "exploration": self.exploration, "guided": self.guided,
                "guided_untrusted": self.guided_untrusted, "trust_prior": self.trust_prior,
                "trust_outlier": self.trust_outlier,
                "trust_sharpness": self.trust_sharpness, "floor": self.floor, "residual": self.residual,
                "power": self.power, "leader": self.leader, "split": self.split,
                "max_rivals": self.max_rivals}

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        super().reset()
        seeds = self.rng_.integers(2**31 - 1, size=3)
        #: draws are a function of this seed and the label count: the same state draws the same item
        self.draw_seed_ = int(seeds[2])
        self.guide_ = registry.make(self.guide, self.n_models, self.n_classes, random_state=int(seeds[0]))
        self.robust_ = registry.make(self.robust, self.n_models, self.n_classes, random_state=int(seeds[1]))
        self.pool_ = None
        self.certificate_ = None
        self.trust_log_odds_ = self.trust_prior
        self.pending_: tuple[int, Draw] | None = None
        self.labelled_: list[list[int]] = []
        self._guess_cache: tuple[int, np.ndarray] | None = None

    def set_pool(self, predictions: Any, probabilities: Any = None) -> None:
        preds = as_prediction_matrix(predictions, self.n_models)
        if self.pool_ is not None and self.pool_.shape == preds.shape and np.array_equal(self.pool_, preds):
            return
        if self.labelled_:
            raise ValueError("set_pool with a different pool after labels were observed; call reset() first")
        if preds.shape[0] == 0:
            raise ValueError("the pool has no items")
        self.pool_ = preds.astype(np.int64)
        self.guide_.set_pool(self.pool_, probabilities)
        self.robust_.set_pool(self.pool_, probabilities)
        self.certificate_ = GapCertificate(self.pool_, self.delta)
        self._guess_cache = None
        self._contested = ~all_agree(self.pool_)

    def _require_pool(self) -> None:
        if self.pool_ is None:
            raise ValueError("call set_pool before using the certified strategy")

    # ------------------------------------------------------------------ belief
    @property
    def trust(self) -> float:
        """Weight of the guide's belief in [0, 1]."""
        return float(1.0 / (1.0 + np.exp(-np.clip(self.trust_sharpness * self.trust_log_odds_, -50, 50))))

    def p_best(self) -> np.ndarray:
        w = self.trust
        return w * self.guide_.p_best() + (1.0 - w) * self.robust_.p_best()

    def p_top(self) -> np.ndarray:
        w = self.trust
        return w * self.guide_.p_top() + (1.0 - w) * self.robust_.p_top()

    def best(self) -> int:
        p = self.p_top() + 1e-9 * self.p_best()
        top = np.flatnonzero(p >= p.max() - 1e-12)
        return int(self.rng_.choice(top)) if top.size > 1 else int(top[0])

    def accuracy_estimate(self):
        return self.guide_.accuracy_estimate() if self.trust >= 0.5 else self.robust_.accuracy_estimate()

    def gap(self) -> np.ndarray:
        """``(n_models,)`` certified bound on how far each model is below the best (accuracy units)."""
        self._require_pool()
        return self.certificate_.gap()

    # ---------------------------------------------------------------- drawing
    def sampling_distribution(self, candidates: Any = None) -> np.ndarray:
        """``(n_items,)`` the distribution the next label is drawn from (0 outside ``candidates``)."""
        self._require_pool()
        unlabelled = self.certificate_.unlabelled.copy()
        if candidates is not None:
            allowed = np.zeros_like(unlabelled)
            allowed[candidate_indices(candidates, self.pool_.shape[0])] = True
            unlabelled &= allowed
        guess = self._guess()
        gap = self.certificate_.gap()
        p_top = self.p_top()
        if self.leader == "pick":
            leader = int(np.argmax(p_top + 1e-9 * self.p_best() - 1e-12 * gap))
        else:
            leader = int(np.argmin(gap - 1e-9 * p_top))
        lower = self.certificate_.lower[leader]
        rivals = np.flatnonzero((lower < -self.epsilon * self.pool_.shape[0]) & (np.arange(self.n_models) != leader))
        if rivals.size > self.max_rivals:   # the most probable best first, then the least certified
            rivals = rivals[np.lexsort((lower[rivals], -(p_top + 1e-6 * self.p_best())[rivals]))[:self.max_rivals]]
        share = self.guided_share
        guided_item = None
        allowed = unlabelled & self._contested
        if share > 0 and allowed.any():
            if self.split:
                w = self.trust
                guided_item = [(self._most_informative(allowed, chooser), part * share)
                               for chooser, part in ((self.guide_, w), (self.robust_, 1.0 - w))
                               if part * share >= SPLIT_MIN_SHARE]
            else:
                guided_item = self._most_informative(allowed)
        return sampling_distribution(self.pool_, unlabelled, guess, leader, rivals, guided_item,
                                     self.exploration, share, self.floor, self.residual, self.power)

    @property
    def guided_share(self) -> float:
        """Share of the guided part now: ``guided`` at full trust, ``guided_untrusted`` at none."""
        w = self.trust
        return w * self.guided + (1.0 - w) * self.guided_untrusted

    def _guess(self) -> np.ndarray:
        """The guide's ``correct_probability()``, computed once per label count."""
        if self._guess_cache is None or self._guess_cache[0] != self.n_labels_:
            self._guess_cache = (int(self.n_labels_), self.guide_.correct_probability())
        return self._guess_cache[1]

    def _most_informative(self, allowed: np.ndarray, chooser: Any = None) -> int:
        """The item ``chooser`` (default: the belief in charge, guide when trusted, else robust) would label next."""
        if chooser is None:
            chooser = self.guide_ if self.trust >= 0.5 else self.robust_
        idx = np.flatnonzero(allowed)
        if hasattr(chooser, "pattern_scores"):   # scores per pattern: the whole pool is one lookup, a subset a hash each
            scores = np.asarray(chooser.score(self.pool_), dtype=float)[idx]
        else:
            scores = np.asarray(chooser.score(self.pool_[idx]), dtype=float)
        return int(idx[int(np.argmax(scores))])

    def draw(self, candidates: Any = None) -> int | None:
        """Draw the next item to label and remember how; None when no open item is left."""
        q = self.sampling_distribution(candidates)
        if q.sum() <= 0:
            self.pending_ = None
            return None
        item = int(np.random.default_rng([self.draw_seed_, int(self.n_labels_)]).choice(q.size, p=q))
        guess = self._guess()
        unlabelled = self.certificate_.unlabelled
        live = q > 0
        self.pending_ = (item, Draw(q=float(q[item]), q_min=float(q[live & self._contested].min()),
                                    guess=guess[item].copy(), guess_total=guess[unlabelled].sum(axis=0)))
        return item

    def select(self, predictions: Any, probabilities: Any = None, candidates: Any = None) -> int:
        """Draw the next item (rows of ``predictions`` must be the pool); falls back to any candidate when nothing is open."""
        preds = as_prediction_matrix(predictions, self.n_models)
        if self.pool_ is None:
            self.set_pool(preds, probabilities)
        item = self.draw(candidates)
        if item is None:
            idx = candidate_indices(candidates, preds.shape[0])
            return int(idx[self.rng_.integers(idx.size)])
        return item

    def score(self, predictions: Any, probabilities: Any = None) -> np.ndarray:
        """``(n_items,)`` the belief in charge's informativeness (the queue order after the drawn head)."""
        self._require_pool()
        chooser = self.guide_ if self.trust >= 0.5 else self.robust_
        return np.asarray(chooser.score(predictions, probabilities), dtype=float)

    # ----------------------------------------------------------------- labels
    def observe(self, prediction_row: Any, label: int, query_probability: float = 1.0,
                item: int | None = None) -> None:
        self._require_pool()
        self._check_row(prediction_row)
        self._check_label(label)
        if not 0.0 < float(query_probability) <= 1.0:
            raise ValueError(f"query_probability must be in (0, 1], got {query_probability}")
        if item is None:
            raise ValueError("the certified strategy needs the pool row (item) of every label")
        super().observe(prediction_row, label, query_probability, item)

    def _update(self, row: np.ndarray, label: int, q: float, item: int | None) -> None:
        item = int(item)
        if not np.array_equal(self.pool_[item], row):
            raise ValueError(f"prediction row does not match pool item {item}")
        if self._contested[item]:
            uninformed = _uninformed(row, label, self.n_classes)
            informed = (1.0 - self.trust_outlier) * self.guide_.label_probability(item, label) \
                + self.trust_outlier * uninformed
            self.trust_log_odds_ += float(np.log(max(informed, 1e-12)) - np.log(uninformed))
        draw = self.pending_[1] if self.pending_ is not None and self.pending_[0] == item else None
        self.certificate_.observe(item, label, draw)
        self.guide_.observe(row, label, q, item=item)
        self.robust_.observe(row, label, q, item=item)
        self.labelled_.append([item, int(label), int(draw is not None)])
        self.pending_ = None

    # ------------------------------------------------------------------- JSON
    def _get_learned(self) -> dict[str, Any]:
        return {"pool": None if self.pool_ is None else self.pool_.tolist(), "labelled": self.labelled_}

    def _set_learned(self, learned: dict[str, Any]) -> None:
        """Rebuild by replaying the labels with their recorded draws (same seed, same draws)."""
        n_labels, correct, rng_state = self.n_labels_, self.correct_.copy(), self.rng_.bit_generator.state
        self.reset()
        if learned["pool"] is not None:
            self.set_pool(np.asarray(learned["pool"], dtype=np.int64))
            for item, label, sampled in learned["labelled"]:
                if sampled:
                    self.draw()
                    if self.pending_ is None or self.pending_[0] != item:
                        raise ValueError("the recorded draws do not replay: state from another version or seed")
                super().observe(self.pool_[item], label, 1.0, item)
        self.n_labels_, self.correct_ = n_labels, correct
        self.rng_.bit_generator.state = rng_state


def _uninformed(row: np.ndarray, label: int, n_classes: int) -> float:
    """Probability of ``label`` under a uniform guess over the classes the row's candidates predict."""
    predicted = np.unique(row)
    if label in predicted:
        return (1.0 - UNINFORMED_OTHER * (predicted.size < n_classes)) / predicted.size
    return UNINFORMED_OTHER / (n_classes - predicted.size)
