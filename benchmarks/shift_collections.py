"""Real model collections after a distribution shift, where the candidates' majority is often wrong.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.shift_collections                         # every collection, seed 0
    .venv/bin/python -m benchmarks.shift_collections --only shift-digits-rotate --seed 1 --out /tmp/c

Every collection holds real fitted scikit-learn candidates (13 or 14 of them:
logistic regression, SVC, k-NN, random forest, extra trees, histogram
gradient boosting, MLP, naive Bayes, decision trees of several depths).  Each
candidate is trained on its own slice of the pre-shift data: another random
subset, another hyper-parameter setting, and another *date*, a period whose
data already carried none, some or much of the later shift.  All candidates
then predict one batch drawn after the shift; that batch is the collection's
items.  Most candidates were fit to the old distribution and fail *together*
on the shifted part of the batch (same wrong class), so the majority vote of
the candidates is wrong on a sizeable share of the items, while the few
candidates whose date saw the shift are minority voters there and the most
accurate of them is the true best.

Collections (see ``benchmarks/README.md``, "Shifted collections", for the measured figures):

``shift-digits-rotate``
    ``load_digits`` 8x8 images; the batch is the held-out images, two copies
    each, rotated by 12 to 25 degrees either way.  Three candidates come from
    dates whose scans were tilted (+-10 or +-30 degrees).
``shift-digits-occlude``
    ``load_digits``; the batch is the held-out images, two copies each, with a
    random 3x3 or 4x4 block blanked out.  Three candidates come from a date
    whose scans had such blots.
``shift-tabular-subpop``
    ``make_classification`` (4 classes, 3 clusters per class); every class's
    third cluster (a subpopulation) is absent before the shift and makes up
    30% of the batch.  Three candidates come from recent dates holding a few
    hundred items of it.
``shift-tabular-prior``
    ``make_classification`` (4 classes, overlapping); class priors move from
    55/25/10/10% (training) to 10/10/25/55% (batch).  Four candidates come from
    dates part-way through the drift.
``shift-cancer-recalibrated``
    ``load_breast_cancer`` (binary); a new instrument measures the six size
    features 30% lower, and the batch (a referral clinic) repeats every
    held-out malignant case 10 times and every benign one 3 times, with 3%
    measurement noise per copy.  Three candidates come from dates with data
    of the new instrument.

Each collection is written to ``<out>/<name>/``: ``predictions.npy``
``(n_items, n_models)`` int64, ``oracle.npy`` ``(n_items,)`` int64,
``labelspace.npy`` (the classes ``0 .. n_classes-1``), ``models.json`` (every
candidate: family, parameters, training slice, accuracy before and after the
shift) and ``summary.json`` (sizes, accuracies, majority-vote figures).
:func:`modelpicker_core.loaders.load_collection` reads the directory.  Same
seed, same bytes (every random choice derives from ``--seed``; BLAS runs on
one thread).

The majority vote is the plurality of the candidates' predictions; ties go
to the lowest class (:func:`modelpicker_core.synth.majority_vote`).

Other code uses :data:`COLLECTIONS` and :func:`build`::

    from benchmarks.shift_collections import build
    predictions, labels, classes, info = build("shift-digits-rotate", seed=0)
"""
from __future__ import annotations

import os

# one BLAS thread: the models are small, and the bytes must not depend on the thread count
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import dataclasses
import json
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from modelpicker_core.cli.bench import seed_int
from modelpicker_core.loaders import load_collection
from modelpicker_core.synth import majority_vote

DEFAULT_OUT = ROOT / ".cache" / "collections"


# ------------------------------------------------------------------ candidates
@dataclasses.dataclass(frozen=True)
class Candidate:
    """One candidate: a model family with parameters, trained on one slice of the pre-shift data.

    ``date`` names the period its training data comes from (what the builder
    does to that data: tilt, blots, a subpopulation, a class prior, an
    instrument); ``share`` is the fraction of the training pool it is trained
    on (digits, cancer) or its number of training items (tabular).
    """

    name: str
    family: str
    params: dict
    date: str
    share: float


def _estimator(family: str, params: dict, random_state: int):
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    scaled = params.get("scaled", False)
    kw = {k: v for k, v in params.items() if k != "scaled"}
    if family == "logreg":
        model = LogisticRegression(max_iter=3000, **kw)
    elif family == "svc":
        model = SVC(random_state=random_state, **kw)
    elif family == "knn":
        model = KNeighborsClassifier(**kw)
    elif family == "random_forest":
        model = RandomForestClassifier(random_state=random_state, n_jobs=1, **kw)
    elif family == "extra_trees":
        model = ExtraTreesClassifier(random_state=random_state, n_jobs=1, **kw)
    elif family == "hist_gradient_boosting":
        model = HistGradientBoostingClassifier(random_state=random_state, early_stopping=False, **kw)
    elif family == "mlp":
        model = MLPClassifier(random_state=random_state, **kw)
    elif family == "naive_bayes":
        model = GaussianNB(**kw)
    elif family == "decision_tree":
        model = DecisionTreeClassifier(random_state=random_state, **kw)
    else:
        raise ValueError(f"unknown model family {family!r}")
    return make_pipeline(StandardScaler(), model) if scaled else model


def _fit_predict(candidates: list[Candidate], train_of: Callable, batch: np.ndarray, before: np.ndarray,
                 rng: np.random.Generator, progress: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray, list]:
    """Fit every candidate on ``train_of(candidate, rng)``; predictions on ``batch`` and on ``before``."""
    after_preds, before_preds, trained = [], [], []
    for i, cand in enumerate(candidates):
        start = time.perf_counter()
        X, y = train_of(cand, np.random.default_rng(rng.integers(2**63)))
        model = _estimator(cand.family, cand.params, int(rng.integers(2**31 - 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # MLP convergence warnings: the iteration budget is part of the model
            model.fit(X, y)
        after_preds.append(model.predict(batch).astype(np.int64))
        before_preds.append(model.predict(before).astype(np.int64))
        trained.append(int(len(y)))
        progress(f"  [{i + 1:2d}/{len(candidates)}] {cand.name:<24s} trained on {len(y):5d} items "
                 f"({time.perf_counter() - start:4.1f} s)")
    return np.stack(after_preds, axis=1), np.stack(before_preds, axis=1), trained


# ------------------------------------------------------------------ digits
def _rotate(images: np.ndarray, angles: np.ndarray) -> np.ndarray:
    from scipy import ndimage
    return np.stack([ndimage.rotate(img, a, reshape=False, order=1, mode="constant", cval=0.0)
                     for img, a in zip(images, angles)])


def _blot(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blank a random 3x3 or 4x4 block of every image."""
    out = images.copy()
    size = rng.integers(3, 5, size=len(images))
    top = rng.integers(0, 9 - size)
    left = rng.integers(0, 9 - size)
    for img, s, r, c in zip(out, size, top, left):
        img[r:r + s, c:c + s] = 0.0
    return out


#: the pre-shift candidates every digits collection has: upright scans of 2019
_DIGITS_BASE = [
    Candidate("logreg-C0.1", "logreg", {"C": 0.1, "scaled": True}, "2019-upright", 0.8),
    Candidate("svc-rbf-C5", "svc", {"C": 5.0}, "2019-upright", 0.9),
    Candidate("knn-3", "knn", {"n_neighbors": 3}, "2019-upright", 0.7),
    Candidate("knn-1", "knn", {"n_neighbors": 1}, "2019-upright", 0.5),
    Candidate("random-forest-200", "random_forest", {"n_estimators": 200}, "2019-upright", 0.9),
    Candidate("extra-trees-200", "extra_trees", {"n_estimators": 200}, "2019-upright", 0.6),
    Candidate("hist-gboost-60", "hist_gradient_boosting", {"max_iter": 60}, "2019-upright", 0.8),
    Candidate("mlp-64", "mlp", {"hidden_layer_sizes": [64], "max_iter": 500}, "2019-upright", 0.8),
    Candidate("naive-bayes", "naive_bayes", {}, "2019-upright", 1.0),
    Candidate("tree-depth8", "decision_tree", {"max_depth": 8}, "2019-upright", 1.0),
]

_DIGITS = {
    "rotate": _DIGITS_BASE + [
        Candidate("svc-rbf-C5@tilt10", "svc", {"C": 5.0}, "2020-tilt10", 0.6),
        Candidate("knn-5@tilt10", "knn", {"n_neighbors": 5}, "2020-tilt10", 0.6),
        Candidate("mlp-64@tilt30", "mlp", {"hidden_layer_sizes": [64], "max_iter": 500}, "2021-tilt30", 0.4),
    ],
    "occlude": _DIGITS_BASE + [
        Candidate("svc-rbf-C5@blots", "svc", {"C": 5.0}, "2021-blots", 0.5),
        Candidate("mlp-64@blots", "mlp", {"hidden_layer_sizes": [64], "max_iter": 500}, "2021-blots", 0.5),
        Candidate("random-forest-200@blots", "random_forest", {"n_estimators": 200}, "2021-blots", 0.5),
    ],
}

_DIGITS_DATES = {
    "2019-upright": "upright scans",
    "2020-tilt10": "upright scans plus a copy of each tilted by up to 10 degrees",
    "2021-tilt30": "upright scans plus a copy of each tilted by up to 30 degrees",
    "2021-blots": "clean scans plus a copy of each with a blanked 3x3 or 4x4 block",
}


def _digits(shift: str, seed: int, scale: float, progress: Callable[[str], None]):
    from sklearn.datasets import load_digits

    rng = np.random.default_rng([seed, zlib.crc32(f"shift-digits-{shift}".encode())])
    data = load_digits()
    images, target = data.images.astype(float), data.target.astype(np.int64)
    order = rng.permutation(len(target))
    n_train = 900
    train, test = order[:n_train], order[n_train:]
    test = test[:max(20, int(round(len(test) * scale)))]
    copies = 2
    held, labels = np.repeat(images[test], copies, axis=0), np.repeat(target[test], copies)
    batch_rng = np.random.default_rng(rng.integers(2**63))
    if shift == "rotate":
        angles = batch_rng.uniform(12.0, 25.0, len(labels)) * batch_rng.choice([-1.0, 1.0], len(labels))
        shifted = _rotate(held, angles)
        batch_desc = f"{len(test)} held-out images x {copies} copies, each rotated by 12-25 degrees either way"
    else:
        shifted = _blot(held, batch_rng)
        batch_desc = f"{len(test)} held-out images x {copies} copies, each with a random 3x3 or 4x4 block blanked"

    def train_of(cand: Candidate, r: np.random.Generator):
        n = max(30, int(round(cand.share * n_train * _train_factor(scale))))
        idx = train[np.sort(r.choice(n_train, n, replace=False))]
        X, y = images[idx], target[idx]
        if cand.date == "2020-tilt10":
            X, y = np.concatenate([X, _rotate(X, r.uniform(-10, 10, len(y)))]), np.concatenate([y, y])
        elif cand.date == "2021-tilt30":
            X, y = np.concatenate([X, _rotate(X, r.uniform(-30, 30, len(y)))]), np.concatenate([y, y])
        elif cand.date == "2021-blots":
            X, y = np.concatenate([X, _blot(X, r)]), np.concatenate([y, y])
        return _flat(X), y

    candidates = _DIGITS[shift]
    preds, before, trained = _fit_predict(candidates, train_of, _flat(shifted), _flat(images[test]), rng, progress)
    info = {
        "data": "sklearn.datasets.load_digits (8x8 images, pixels / 16)",
        "shift": shift,
        "batch": batch_desc,
        "before_shift": f"the same {len(test)} held-out images, unchanged",
        "training_pool": f"{n_train} other images",
        "dates": {c.date: _DIGITS_DATES[c.date] for c in candidates},
    }
    return preds, labels, np.arange(10), before, target[test], candidates, trained, info


def _train_factor(scale: float) -> float:
    """How much the training slices shrink at ``scale`` (half as fast as the batch)."""
    return min(1.0, 2.0 * scale)


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1) / 16.0


# ------------------------------------------------------------------ tabular
_TABULAR_BASE = [
    Candidate("logreg", "logreg", {"scaled": True}, "old", 3000),
    Candidate("svc-rbf-C3", "svc", {"C": 3.0, "scaled": True}, "old", 3000),
    Candidate("knn-15", "knn", {"n_neighbors": 15, "scaled": True}, "old", 3000),
    Candidate("random-forest-100", "random_forest", {"n_estimators": 100, "min_samples_leaf": 2}, "old", 4000),
    Candidate("extra-trees-100", "extra_trees", {"n_estimators": 100}, "old", 3000),
    Candidate("hist-gboost-100", "hist_gradient_boosting", {"max_iter": 100}, "old", 4000),
    Candidate("mlp-64-32", "mlp", {"hidden_layer_sizes": [64, 32], "max_iter": 300, "scaled": True}, "old", 3000),
    Candidate("naive-bayes", "naive_bayes", {}, "old", 3000),
    Candidate("tree-depth6", "decision_tree", {"max_depth": 6}, "old", 3000),
    Candidate("tree-depth12", "decision_tree", {"max_depth": 12}, "old", 3000),
]

_TABULAR = {
    "subpop": [dataclasses.replace(c, date="2022") for c in _TABULAR_BASE] + [
        Candidate("svc-rbf-C3@2024", "svc", {"C": 3.0, "scaled": True}, "2024", 3000),
        Candidate("mlp-64-32@2023", "mlp", {"hidden_layer_sizes": [64, 32], "max_iter": 300, "scaled": True},
                  "2023", 3000),
        Candidate("random-forest-100@2024", "random_forest", {"n_estimators": 100, "min_samples_leaf": 2}, "2024",
                  4000),
    ],
    "prior": [dataclasses.replace(c, date="2022") for c in _TABULAR_BASE] + [
        Candidate("svc-rbf-C3@2025", "svc", {"C": 3.0, "scaled": True}, "2025", 2000),
        Candidate("mlp-64-32@2024", "mlp", {"hidden_layer_sizes": [64, 32], "max_iter": 300, "scaled": True},
                  "2024", 3000),
        Candidate("knn-15@2024", "knn", {"n_neighbors": 15, "scaled": True}, "2024", 3000),
        Candidate("random-forest-100@2023", "random_forest", {"n_estimators": 100, "min_samples_leaf": 2}, "2023",
                  3000),
    ],
}

#: subpopulation items per 3,000 training items, per date
_SUBPOP_SHARE = {"2022": 0, "2023": 150, "2024": 300}
#: how far (0 = training prior, 1 = batch prior) each date's class prior had drifted
_PRIOR_DRIFT = {"2022": 0.0, "2023": 0.3, "2024": 0.5, "2025": 0.8}
#: cluster separation of each tabular collection (lower: classes overlap more)
_CLASS_SEP = {"subpop": 1.5, "prior": 1.2}
_OLD_PRIOR = np.array([0.55, 0.25, 0.10, 0.10])
_NEW_PRIOR = np.array([0.10, 0.10, 0.25, 0.55])


def _make_tabular(shift: str, rng: np.random.Generator):
    """``make_classification`` data with every item's cluster (``shuffle=False`` keeps them in order)."""
    from sklearn.datasets import make_classification

    n, k = 30000, 4
    per_class = 3 if shift == "subpop" else 2
    X, y = make_classification(n_samples=n, n_features=20, n_informative=8, n_redundant=4, n_repeated=0,
                               n_classes=k, n_clusters_per_class=per_class,
                               class_sep=_CLASS_SEP[shift], flip_y=0.0, shuffle=False,
                               random_state=int(rng.integers(2**31 - 1)))
    n_clusters = k * per_class
    sizes = np.full(n_clusters, n // n_clusters)
    sizes[:n - sizes.sum()] += 1
    cluster = np.repeat(np.arange(n_clusters), sizes)
    if not np.array_equal(y, cluster % k):   # make_classification lays clusters out in order
        raise RuntimeError("make_classification no longer lays out its clusters in order; cannot find them")
    order = rng.permutation(n)
    return X[order], y[order].astype(np.int64), cluster[order] // k, k


def _draw_prior(pool: np.ndarray, y: np.ndarray, prior: np.ndarray, n: int, r: np.random.Generator) -> np.ndarray:
    counts = np.round(prior / prior.sum() * n).astype(int)
    return np.sort(np.concatenate([r.choice(pool[y[pool] == c], counts[c], replace=False)
                                   for c in range(len(prior))]))


def _tabular(shift: str, seed: int, scale: float, progress: Callable[[str], None]):
    rng = np.random.default_rng([seed, zlib.crc32(f"shift-tabular-{shift}".encode())])
    X, y, sub, k = _make_tabular(shift, rng)
    train, held = np.arange(0, 20000), np.arange(20000, 30000)
    n_batch = max(100, int(round(2000 * scale)))
    batch_rng = np.random.default_rng(rng.integers(2**63))
    if shift == "subpop":
        hidden = sub == 2
        old, new = train[~hidden[train]], train[hidden[train]]
        n_hidden = int(round(0.3 * n_batch))
        batch = np.sort(np.concatenate([batch_rng.choice(held[hidden[held]], n_hidden, replace=False),
                                        batch_rng.choice(held[~hidden[held]], n_batch - n_hidden, replace=False)]))
        before = batch_rng.choice(held[~hidden[held]], n_batch, replace=False)
        batch_desc = (f"{n_batch} items, 30% from the subpopulations unseen in 2022 (every class's third cluster), "
                      "70% from the others")
        dates = {d: ("no subpopulation items" if c == 0 else f"{c} subpopulation items per 3,000")
                 for d, c in _SUBPOP_SHARE.items()}

        def train_of(cand: Candidate, r: np.random.Generator):
            n = max(200, int(round(cand.share * _train_factor(scale))))
            n_new = int(round(_SUBPOP_SHARE[cand.date] * n / 3000))
            idx = np.sort(np.concatenate([r.choice(old, n - n_new, replace=False),
                                          r.choice(new, n_new, replace=False)]))
            return X[idx], y[idx]
    else:
        batch = _draw_prior(held, y, _NEW_PRIOR, n_batch, batch_rng)
        before = _draw_prior(held, y, _OLD_PRIOR, n_batch, batch_rng)
        batch_desc = f"{n_batch} items with class prior {_NEW_PRIOR.tolist()} (training: {_OLD_PRIOR.tolist()})"
        dates = {d: f"class prior {((1 - f) * _OLD_PRIOR + f * _NEW_PRIOR).round(3).tolist()}"
                 for d, f in _PRIOR_DRIFT.items()}

        def train_of(cand: Candidate, r: np.random.Generator):
            f = _PRIOR_DRIFT[cand.date]
            n = max(200, int(round(cand.share * _train_factor(scale))))
            idx = _draw_prior(train, y, (1 - f) * _OLD_PRIOR + f * _NEW_PRIOR, n, r)
            return X[idx], y[idx]

    candidates = _TABULAR[shift]
    preds, before_preds, trained = _fit_predict(candidates, train_of, X[batch], X[before], rng, progress)
    info = {
        "data": ("sklearn.datasets.make_classification: 30,000 items, 20 features (8 informative, 4 redundant), "
                 f"{k} classes, {3 if shift == 'subpop' else 2} clusters per class"),
        "shift": shift,
        "batch": batch_desc,
        "before_shift": (f"{n_batch} held-out items from the seen subpopulations" if shift == "subpop"
                         else f"{n_batch} held-out items with the training prior"),
        "training_pool": "20,000 items (disjoint from the batch)",
        "dates": {c.date: dates[c.date] for c in candidates},
    }
    return preds, y[batch], np.arange(k), before_preds, y[before], candidates, trained, info


# ------------------------------------------------------------------ breast cancer
_CANCER = [dataclasses.replace(c, date="2021-old-instrument", share=0.8) for c in _TABULAR_BASE] + [
    Candidate("svc-rbf-C3@2024", "svc", {"C": 3.0, "scaled": True}, "2024-new-instrument", 0.6),
    Candidate("logreg@2024", "logreg", {"scaled": True}, "2024-new-instrument", 0.5),
    Candidate("random-forest-100@2023", "random_forest", {"n_estimators": 100, "min_samples_leaf": 2},
              "2023-both-instruments", 0.8),
]

#: the size features (mean and worst radius, perimeter, area) the new instrument measures 30% lower
_CANCER_SIZE_COLUMNS = [0, 2, 3, 20, 22, 23]
_CANCER_FACTOR = 0.7
_CANCER_DATES = {
    "2021-old-instrument": "old instrument",
    "2023-both-instruments": "each item measured by the old or the new instrument (half each)",
    "2024-new-instrument": "new instrument (size features 30% lower)",
}


def _recalibrate(X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    X = X.copy()
    rows = np.arange(len(X)) if rows is None else rows
    X[np.ix_(rows, _CANCER_SIZE_COLUMNS)] *= _CANCER_FACTOR
    return X


def _cancer(seed: int, scale: float, progress: Callable[[str], None]):
    from sklearn.datasets import load_breast_cancer

    rng = np.random.default_rng([seed, zlib.crc32(b"shift-cancer-recalibrated")])
    data = load_breast_cancer()
    X, y = data.data, data.target.astype(np.int64)          # 0 = malignant, 1 = benign
    order = rng.permutation(len(y))
    n_train = 280
    train, test = order[:n_train], order[n_train:]
    test = test[:max(20, int(round(len(test) * scale)))]
    copies = np.where(y[test] == 0, 10, 3)                   # a referral clinic: malignant cases weigh more
    held, labels = np.repeat(X[test], copies, axis=0), np.repeat(y[test], copies)
    batch_rng = np.random.default_rng(rng.integers(2**63))
    shifted = _recalibrate(held * batch_rng.lognormal(0.0, 0.03, held.shape))

    def train_of(cand: Candidate, r: np.random.Generator):
        idx = train[np.sort(r.choice(n_train, max(30, int(round(cand.share * n_train))), replace=False))]
        Xa = X[idx]
        if cand.date == "2024-new-instrument":
            Xa = _recalibrate(Xa)
        elif cand.date == "2023-both-instruments":
            Xa = _recalibrate(Xa, np.flatnonzero(r.random(len(idx)) < 0.5))
        return Xa, y[idx]

    preds, before, trained = _fit_predict(_CANCER, train_of, shifted, X[test], rng, progress)
    info = {
        "data": "sklearn.datasets.load_breast_cancer (30 features; class 0 malignant, 1 benign)",
        "shift": "recalibrated",
        "batch": (f"{len(test)} held-out cases measured by the new instrument (size features x {_CANCER_FACTOR}), "
                  "each repeated with 3% multiplicative measurement noise: 10 copies of a malignant case, 3 of a "
                  "benign one (a referral clinic's mix)"),
        "before_shift": f"the same {len(test)} held-out cases, old instrument, one copy each",
        "training_pool": f"{n_train} other cases",
        "dates": {c.date: _CANCER_DATES[c.date] for c in _CANCER},
    }
    return preds, labels, np.arange(2), before, y[test], _CANCER, trained, info


# ------------------------------------------------------------------ registry
def _digits_builder(shift: str):
    return lambda seed, scale, progress: _digits(shift, seed, scale, progress)


def _tabular_builder(shift: str):
    return lambda seed, scale, progress: _tabular(shift, seed, scale, progress)


#: name -> builder ``(seed, scale, progress) -> raw parts``; use :func:`build`
COLLECTIONS: dict[str, Callable] = {
    "shift-digits-rotate": _digits_builder("rotate"),
    "shift-digits-occlude": _digits_builder("occlude"),
    "shift-tabular-subpop": _tabular_builder("subpop"),
    "shift-tabular-prior": _tabular_builder("prior"),
    "shift-cancer-recalibrated": _cancer,
}


def build(name: str, seed: int = 0, scale: float = 1.0,
          progress: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Build collection ``name``: ``(predictions, labels, classes, info)``.

    ``predictions`` ``(n_items, n_models)`` and ``labels`` ``(n_items,)`` are
    int64 class indices into ``classes``; ``info`` holds ``"models"`` (one
    entry per candidate, see ``models.json``) and ``"summary"`` (see
    ``summary.json``).  ``scale`` < 1 shrinks the batch (by ``scale``) and
    the digits and tabular training slices (by ``min(1, 2 scale)``), for quick
    tests; the figures move.  1 is the benchmark collection.
    Same ``name``, ``seed`` and ``scale``: same arrays.
    """
    if name not in COLLECTIONS:
        raise ValueError(f"unknown collection {name!r}; choose from {', '.join(COLLECTIONS)}")
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        preds, labels, classes, before, before_labels, candidates, trained, details = COLLECTIONS[name](
            seed, scale, progress or (lambda _msg: None))
    accuracy = (preds == labels[:, None]).mean(axis=0)
    accuracy_before = (before == before_labels[:, None]).mean(axis=0)
    models = [{"index": i, "name": c.name, "family": c.family,
               "params": {k: v for k, v in c.params.items()}, "date": c.date,
               "training_slice": f"{trained[i]} items from {c.date} ({details['dates'][c.date]})",
               "training_items": trained[i],
               "accuracy": round(float(accuracy[i]), 5), "accuracy_before_shift": round(float(accuracy_before[i]), 5)}
              for i, c in enumerate(candidates)]
    summary = summarise(preds, labels, len(classes), [c.name for c in candidates])
    summary.update({"name": name, "seed": int(seed), "scale": scale, **{k: v for k, v in details.items()}})
    summary["dates"] = dict(sorted(details["dates"].items()))
    summary["majority_accuracy_before_shift"] = round(float(
        (majority_vote(before, len(classes)) == before_labels).mean()), 5)
    return preds, labels, classes, {"models": models, "summary": summary}


def summarise(predictions: np.ndarray, labels: np.ndarray, n_classes: int, names: list[str]) -> dict[str, Any]:
    """Accuracies and majority-vote figures of a collection (the ``summary.json`` fields)."""
    accuracy = (predictions == labels[:, None]).mean(axis=0)
    order = np.argsort(-accuracy, kind="stable")
    best = int(order[0])
    vote = majority_vote(predictions, n_classes)
    wrong = vote != labels
    best_right = predictions[:, best] == labels
    favourite = int(np.argmax((predictions == vote[:, None]).mean(axis=0)))
    return {
        "n_items": int(predictions.shape[0]), "n_models": int(predictions.shape[1]), "n_classes": int(n_classes),
        "accuracy": {name: round(float(a), 5) for name, a in zip(names, accuracy)},
        "best_model": names[best], "best_accuracy": round(float(accuracy[best]), 5),
        "second_accuracy": round(float(accuracy[order[1]]), 5), "worst_accuracy": round(float(accuracy[order[-1]]), 5),
        "top_two_gap_points": round(float(accuracy[best] - accuracy[order[1]]) * 100, 3),
        "majority_accuracy": round(float(1 - wrong.mean()), 5),
        "majority_wrong_share": round(float(wrong.mean()), 5),
        "best_right_where_majority_wrong": round(float(best_right[wrong].mean()), 5) if wrong.any() else None,
        "best_beats_majority_points": round(float(accuracy[best] - (1 - wrong.mean())) * 100, 3),
        "unanimous_wrong_share": round(float((predictions != labels[:, None]).all(axis=1).mean()), 5),
        # what trusting the consensus picks without labels: the candidate agreeing most with the majority
        "most_agreeing_model": names[favourite], "most_agreeing_accuracy": round(float(accuracy[favourite]), 5),
    }


def write(name: str, out: str | Path, seed: int = 0, scale: float = 1.0,
          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build ``name`` into ``out/name/``; returns its summary."""
    preds, labels, classes, info = build(name, seed, scale, progress)
    target = Path(out) / name
    target.mkdir(parents=True, exist_ok=True)
    for stale in ("predictions.csv", "oracle.csv", "labelspace.csv", "probabilities.npy"):
        (target / stale).unlink(missing_ok=True)
    np.save(target / "predictions.npy", preds.astype(np.int64))
    np.save(target / "oracle.npy", labels.astype(np.int64))
    np.save(target / "labelspace.npy", np.asarray(classes, dtype=np.int64))
    (target / "models.json").write_text(json.dumps(info["models"], indent=2) + "\n")
    (target / "summary.json").write_text(json.dumps(info["summary"], indent=2) + "\n")
    loaded = load_collection(target)
    if loaded.predictions.shape != preds.shape:
        raise RuntimeError(f"{target} does not load back")
    return info["summary"]


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in COLLECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown collection(s) {', '.join(unknown) or text!r}; "
                                         f"choose from {', '.join(COLLECTIONS)}")
    return names


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"scale must be in (0, 1], got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: .cache/collections)")
    ap.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0)")
    ap.add_argument("--only", type=_names, default=list(COLLECTIONS),
                    help=f"comma-separated collections (default: all of {', '.join(COLLECTIONS)})")
    ap.add_argument("--scale", type=_scale, default=1.0,
                    help="shrink batch and training slices (0 < scale <= 1; default 1 = the benchmark collections)")
    ap.add_argument("--quiet", action="store_true", help="no per-candidate progress lines")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        ap.error(f"--out {out} exists and is not a directory")
    progress = (lambda _msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    for name in args.only:
        start = time.perf_counter()
        print(f"{name}: building (seed {args.seed}) ...", flush=True)
        s = write(name, out, args.seed, args.scale, progress)
        accs = sorted(s["accuracy"].items(), key=lambda kv: -kv[1])
        print(f"{name}: {s['n_items']} items x {s['n_models']} models x {s['n_classes']} classes -> {out / name} "
              f"({time.perf_counter() - start:.1f} s)")
        print("  accuracy: " + ", ".join(f"{n} {a:.3f}" for n, a in accs))
        right = s["best_right_where_majority_wrong"]
        print(f"  best {s['best_model']} {s['best_accuracy']:.3f}, second {s['second_accuracy']:.3f}, "
              f"worst {s['worst_accuracy']:.3f}; majority vote {s['majority_accuracy']:.3f} "
              f"(wrong on {s['majority_wrong_share']:.1%} of items; the best is right on "
              f"{'-' if right is None else f'{right:.1%}'} of those); agrees most with the majority: "
              f"{s['most_agreeing_model']} {s['most_agreeing_accuracy']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
