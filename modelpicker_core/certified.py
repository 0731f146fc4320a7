"""Certified: the default strategy, fast when the consensus is right and never fooled by it.

Two parts, each replaceable:

* a **guide** (``consensus`` by default): a belief built from the candidates'
  agreement.  On batches like EmoContext it finds the best model in few
  labels; after a distribution shift, when most candidates fail together, it
  is confidently wrong, and labels it chose itself rarely show it (it asks
  about the disagreements *it* finds open, not about the items where the
  majority it trusts is wrong).
* the **belief** over "model ``h`` is best": the guide's P(best) as a
  *tempered* prior, times the labels' likelihood under a noisy oracle::

      w_h  ∝  p_guide(h) ** prior_power  *  gamma ** correct_h,
      gamma = (1 - label_noise) / label_noise

  (``correct_h``: labelled answers ``h`` got right).  The labels' term is
  Model Selector's posterior; the tempered prior is worth a fixed number of
  labels (``prior_power * log(p_a / p_b) / log(gamma)``), so a guide that is
  wrong is outvoted once the labels disagree with it by that margin, and a
  guide that is right gives the labels a head start.  The guided share of the
  draws goes to the item of highest expected information gain about ``w``
  (Model Selector's criterion), so the labels are asked where the belief's
  leaders, the guide's favourite and the labels' favourite, disagree; as
  labels grow it asks about a flatter belief (``gain_temper``).  With
  ``focus="open"`` (the default) only the items where the belief's pick
  disagrees with a rival it is not yet certified within ``epsilon`` of compete
  for that share: the labels that close the exact part of the bound.

Every label is *drawn* from a recorded distribution (:mod:`.sampling`): the
belief's most informative item with a fixed share, the residual spread of the
pairs the stop waits for, and a uniform share over every open item.  That is
what lets :class:`~modelpicker_core.certificate.GapCertificate` state a bound
that holds whatever the beliefs got wrong; the beliefs only decide how fast it
shrinks.  The guide's class probabilities are the certificate's control
variate.

Options measured and not kept (learned trust in the guide, importance-weighted counts, head-to-head
evidence, uniform first draws, other guided draws) are listed in docs/certified-stop.md with where their code
and figures are.

Labels that the strategy did not draw (``observe`` of an item other than the
one :meth:`Certified.draw` returned last) still count as exact knowledge.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import registry
from .base import Strategy, as_prediction_matrix, candidate_indices
from .certificate import Draw, GapCertificate
from .certified_params import CHECKS, STORED_AS
from .focus import focus_item, leader_and_rivals
from .model_selector import PoolGain, expected_information_gain
from .sampling import sampling_distribution
from .votes import all_agree, compact_classes

#: the guide's settings by default: its P(best) enters only as a prior worth at most ``prior_labels``
#: labels, so fewer Monte Carlo draws than the consensus strategy's own 512 do (they are most of a step's time)
GUIDE_PARAMS = {"consensus": {"n_samples": 128}}
#: smallest guide P(best) taken into the tempered prior (keeps log finite; a model the guide rules out
#: still wins with ``prior_power * log(1 / PRIOR_FLOOR) / log(gamma)`` more correct labels)
PRIOR_FLOOR = 1e-12


class Certified(Strategy):
    """Drawn labels, a guide-tempered belief, and a certified gap bound.

    Parameters
    ----------
    n_models, n_classes, random_state : see :class:`~modelpicker_core.base.Strategy`.
    guide : registry name of the guide belief; it must offer ``correct_probability()``
        (``consensus`` does).
    guide_params : the guide's constructor parameters (None: :data:`GUIDE_PARAMS`).
    delta : error probability of the certified bound.
    epsilon : gap the sampling aims to certify (the leader's rivals are the
        models it is not yet certified within ``epsilon`` of).
    exploration : share of the uniform part of the draw (every open item keeps
        at least ``exploration / n_open``: the certificate's worst-case weight).
    guided : share of the guided part (the belief's most informative item).
    prior_power : exponent of the guide's P(best) in the belief (0: labels
        only, Model Selector's posterior; 1: the guide's belief times the labels').
    label_noise : the noisy oracle's ``eps`` in ``gamma = (1 - eps) / eps``
        (each correct labelled answer multiplies a model's weight by ``gamma``).
    prior_labels : the most the tempered prior may favour one model over
        another, in labels (correct answers); None = no cap.  Bounds what a
        confidently wrong guide costs: a model it rules out leads once it has
        this many more correct labelled answers.
    floor : added to each residual variance of the residual part (large: every
        disagreement of the leader with a rival counts alike, what the exact
        part of the bound needs; small: follow the guide's uncertainty).
    leader : whose bounds the residual part raises: ``"gap"`` (the model of smallest
        certified gap, the one the stop would name now) or ``"pick"`` (the model of
        highest P(best), the one the stop should name).
    max_rivals : the residual part follows the leader against at most this many
        rivals (the most probable best ones), which bounds its cost.
    focus : which open items compete for the guided share (:data:`~modelpicker_core.focus.FOCUS`): ``"none"``
        (every open contested item), or (``"open"``, the default) only those where the focus leader disagrees
        with a rival it is not yet certified within ``epsilon`` of (the labels that close the exact part of the
        bound); the information gain chooses among them.
    focus_leader : the focus leader: ``"pick"`` (highest P(best)) or ``"gap"`` (smallest certified gap).
    gain_temper : ``c``: the guided share's information gain is about the belief raised to ``min(1, c /
        sqrt(n_labels))`` (0: the belief itself), so later labels keep splitting the leaders instead of probing
        the items where the leader alone is in the minority (whose counts turn against whichever model leads).
    """

    name = "certified"
    stochastic = False
    #: the version of the code that makes the draws; a new one whenever the same seed, labels and parameters
    #: could draw otherwise (a replay of labels drawn by another rule would weigh them wrongly)
    draw_rule = 3

    def __init__(self, n_models: int, n_classes: int, random_state: int | None = None,
                 guide: str = "consensus", guide_params: dict | None = None, delta: float = 0.05,
                 epsilon: float = 0.01, exploration: float = 0.1, guided: float = 0.7, prior_power: float = 0.3,
                 label_noise: float = 0.4, prior_labels: float | None = 1.0, floor: float = 0.1,
                 leader: str = "gap", max_rivals: int = 16, focus: str = "open", focus_leader: str = "pick",
                 gain_temper: float = 2.0):
        passed = dict(locals())  # the parameters as given: the error messages quote them
        self.guide = str(guide)
        self.guide_params = dict(GUIDE_PARAMS.get(self.guide, {}) if guide_params is None else guide_params)
        for name, convert in STORED_AS.items():
            setattr(self, name, convert(passed[name]))
        for name, usable, message in CHECKS:
            if not usable(self):
                raise ValueError(message.format(passed[name]))
        registry.get(self.guide)
        super().__init__(n_models, n_classes, random_state)

    def get_params(self) -> dict[str, Any]:
        return {**super().get_params(), "guide": self.guide, "guide_params": self.guide_params,
                **{name: getattr(self, name) for name in STORED_AS}}

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        super().reset()
        seeds = self.rng_.integers(2**31 - 1, size=3)
        #: draws are a function of this seed and the label count: the same state draws the same item
        self.draw_seed_ = int(seeds[2])
        self.guide_ = registry.make(self.guide, self.n_models, self.n_classes, random_state=int(seeds[0]),
                                    **self.guide_params)
        self.pool_ = None
        self.certificate_ = None
        self.pending_: tuple[int, Draw] | None = None
        self.labelled_: list[list[int]] = []
        self._guess_cache: tuple[int, np.ndarray] | None = None
        self._belief_cache: tuple[int, np.ndarray] | None = None

    def set_pool(self, predictions: Any, probabilities: Any = None) -> None:
        preds = as_prediction_matrix(predictions, self.n_models)
        if self.pool_ is not None and self.pool_.shape == preds.shape and np.array_equal(self.pool_, preds):
            return
        if self.labelled_:
            raise ValueError("set_pool with a different pool after labels were observed; call reset() first")
        if preds.shape[0] == 0:
            raise ValueError("the pool has no items")
        self.pool_ = preds.astype(np.int64)
        self._rows = compact_classes(self.pool_)              # int8 when the classes fit: the per-step comparisons
        self._pool_gain = PoolGain.of(self._rows, self.n_classes)   # gains by index, the same bits, built once
        self.guide_.set_pool(self.pool_, probabilities)
        self.certificate_ = GapCertificate(self.pool_, self.delta)
        self._guess_cache = self._belief_cache = None
        self._contested = ~all_agree(self.pool_)

    def _require_pool(self) -> None:
        if self.pool_ is None:
            raise ValueError("call set_pool before using the certified strategy")

    # ------------------------------------------------------------------ belief
    @property
    def gamma(self) -> float:
        """Weight multiplier ``(1 - label_noise) / label_noise`` of a correct labelled answer."""
        return (1.0 - self.label_noise) / self.label_noise

    def _guide_prior(self) -> np.ndarray:
        """``(n_models,)`` the tempered, capped log prior the guide gives the belief."""
        prior = self.prior_power * np.log(np.maximum(self.guide_.p_best(), PRIOR_FLOOR))
        if self.prior_labels is not None:   # the guide is worth at most this many labels against any model
            prior = np.maximum(prior, prior.max() - self.prior_labels * np.log(self.gamma))
        return prior

    def p_best(self) -> np.ndarray:
        """``(n_models,)`` the belief ``w ∝ p_guide ** prior_power * gamma ** correct`` (``correct``: the raw
        labelled counts), computed once per label."""
        if self._belief_cache is None or self._belief_cache[0] != self.n_labels_:
            logits = self._guide_prior() + np.log(self.gamma) * self.correct_
            w = np.exp(logits - logits.max())
            self._belief_cache = (int(self.n_labels_), w / w.sum())
        return self._belief_cache[1]

    def p_top(self) -> np.ndarray:   # the belief models no ties; the pick is Strategy.best on it
        return self.p_best()

    def accuracy_estimate(self):
        return self.guide_.accuracy_estimate()

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
        leader, rivals = leader_and_rivals(self.leader, gap, p_top, self.certificate_.lower, self.epsilon,
                                           self.pool_.shape[0])
        lower = self.certificate_.lower[leader]
        if rivals.size > self.max_rivals:   # the most probable best first, then the least certified
            rivals = rivals[np.lexsort((lower[rivals], -p_top[rivals]))[:self.max_rivals]]
        guided_item = None
        allowed = unlabelled & self._contested
        if self.guided > 0 and allowed.any():
            guided_item = self._guided_item(allowed, gap, p_top)
        return sampling_distribution(self._rows, unlabelled, guess, leader, rivals, guided_item,
                                     self.exploration, self.guided, self.floor)

    def _guess(self) -> np.ndarray:
        """The guide's ``correct_probability()``, computed once per label count."""
        if self._guess_cache is None or self._guess_cache[0] != self.n_labels_:
            self._guess_cache = (int(self.n_labels_), self.guide_.correct_probability())
        return self._guess_cache[1]

    def _information_gain(self, rows: np.ndarray) -> np.ndarray:
        """``(n_rows,)`` expected information gain (bits) of a label on each row about :meth:`_gain_belief`."""
        return expected_information_gain(rows, self._gain_belief(), self.n_classes, self.label_noise, "posterior")

    def _information_gain_at(self, items: np.ndarray) -> np.ndarray:
        """``(n,)`` :meth:`_information_gain` of the pool rows ``items`` (PoolGain when the pool has one)."""
        if self._pool_gain is None:
            return self._information_gain(self._rows[items])
        return self._pool_gain.at(items, self._gain_belief(), self.label_noise)

    def _gain_belief(self) -> np.ndarray:
        """``(n_models,)`` the belief the gains ask about: ``w ** min(1, c / sqrt(n_labels))``, renormalised
        (``c = gain_temper``), flatter as labels grow like ModelPicker's decaying learning rate."""
        belief = self.p_best()
        if self.gain_temper > 0 and self.n_labels_ > 0:
            power = min(1.0, self.gain_temper / np.sqrt(float(self.n_labels_)))
            logits = power * np.log(np.maximum(belief, 1e-300))
            belief = np.exp(logits - logits.max())
            belief /= belief.sum()
        return belief

    def _guided_item(self, allowed: np.ndarray, gap: np.ndarray, p_top: np.ndarray) -> int:
        """The item the guided share goes to (``focus``: which open items compete for it, :mod:`.focus`)."""
        if self.focus != "none":
            leader, rivals = leader_and_rivals(self.focus_leader, gap, p_top, self.certificate_.lower, self.epsilon,
                                               self.pool_.shape[0])
            item = focus_item(allowed, self._rows, leader, rivals, self._information_gain,
                              gain_at=self._information_gain_at)
            if item is not None:
                return item
        return self._most_informative(allowed)

    def _most_informative(self, allowed: np.ndarray) -> int:
        """The open contested item whose label is expected to tell most about which model is best."""
        idx = np.flatnonzero(allowed)
        return int(idx[int(np.argmax(self._information_gain_at(idx)))])

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
        """Draw the next item (rows of ``predictions`` must be the pool).

        Falls back to any candidate when nothing is open.
        """
        preds = as_prediction_matrix(predictions, self.n_models)
        if self.pool_ is None:
            self.set_pool(preds, probabilities)
        item = self.draw(candidates)
        if item is None:
            idx = candidate_indices(candidates, preds.shape[0])
            return int(idx[self.rng_.integers(idx.size)])
        return item

    def score(self, predictions: Any, probabilities: Any = None) -> np.ndarray:
        """``(n_items,)`` expected information gain about the belief (the queue order after the drawn head)."""
        self._require_pool()
        preds = as_prediction_matrix(predictions, self.n_models)
        gain = self._information_gain(preds)
        gain[all_agree(preds)] = -np.log2(max(self.n_models, 2)) - 1.0   # below every gain: label last
        return gain

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
        draw = self.pending_[1] if self.pending_ is not None and self.pending_[0] == item else None
        self.certificate_.observe(item, label, draw)
        self.guide_.observe(row, label, q, item=item)
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

