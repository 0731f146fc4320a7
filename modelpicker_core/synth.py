"""Synthetic model collections with correlated errors, for the benchmark harness.

Why synthetic collections: the real ones (EmoContext) cover one regime.  These
cover the regimes a selection strategy must survive: many candidates, many
classes, a rare positive class, and two candidates almost tied.

How errors are made correlated (a Gaussian copula on correctness)
-----------------------------------------------------------------
Every item ``j`` has a latent difficulty ``d_j ~ N(0, 1)``; model ``i``'s
"miss score" on it is ``z_ij = sqrt(rho) d_j + sqrt(1 - rho) e_ij`` with
``e_ij ~ N(0, 1)``.  Within each true class ``c``, model ``i`` is wrong on
exactly the ``round((1 - recall[i, c]) n_c)`` items of largest ``z_ij``, so
every model's per-class recall (and so its accuracy) is exactly the one asked
for, and hard items are hard for every model (error correlation grows with
``rho``).  A wrong model predicts the item's *confuser* class with probability
``confuser_share`` (so models also agree on the wrong class, the error
pattern that breaks independence assumptions) and otherwise one of the
item's other plausible wrong classes.

Shared failures (kind ``shared-failure``)
------------------------------------------
A batch after a distribution shift can hold a slice of items on which most
candidates fail *together*: they were all fit to the old distribution and now
predict the same wrong class.  With ``failure_share > 0`` a random
``failure_share`` of the items forms that slice.  ``recall`` then applies to
the items off the slice and ``slice_recall`` (one value per model) to the
slice, each exactly per class as above (the copula ranks items within class
and region).  On the slice, a wrong model of the ``failing_models`` bloc
predicts the item's confuser with probability ``bloc_agreement`` (else as any
wrong model does), so when the bloc is a majority the candidates' majority
vote is wrong on nearly the whole slice, while a model outside the bloc with
a high ``slice_recall`` (the true best) is a minority voter there.

Optional class probabilities ``(n_items, n_models, n_classes)``: the predicted
class gets a confidence drawn higher when the prediction is right than when it
is wrong; the remaining mass goes to the item's plausible classes.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

#: kinds of collection :func:`generate` knows
KINDS = ("many-models", "many-classes", "imbalanced", "near-ties", "shared-failure")


@dataclasses.dataclass(frozen=True)
class SynthSpec:
    """Parameters of one synthetic collection.

    Attributes
    ----------
    n_items, n_classes : collection size and label space.
    class_prior : ``(n_classes,)`` class frequencies, or None for uniform.
    recall : ``(n_models, n_classes)`` per-class recall of every model.
    rho : error correlation of the copula (0 = independent errors).
    confuser_share : probability a wrong model predicts the item's confuser.
    n_plausible : wrong classes an item can be confused with (confuser included).
    failure_share : share of items in the shared-failure slice (0 = no slice; the
        module docstring explains the slice).  With a slice, ``recall`` applies to
        the items off it.
    failing_models : the models that fail together on the slice.
    slice_recall : ``(n_models,)`` accuracy of every model on the slice (exact per class).
    bloc_agreement : probability a wrong failing model predicts the confuser on the slice.
    """

    kind: str
    n_items: int
    n_classes: int
    recall: np.ndarray
    class_prior: np.ndarray | None = None
    rho: float = 0.5
    confuser_share: float = 0.6
    n_plausible: int = 3
    failure_share: float = 0.0
    failing_models: tuple[int, ...] = ()
    slice_recall: np.ndarray | None = None
    bloc_agreement: float = 0.95

    @property
    def n_models(self) -> int:
        return int(self.recall.shape[0])


def _flat_recall(accuracies: np.ndarray, n_classes: int) -> np.ndarray:
    return np.repeat(np.asarray(accuracies, dtype=float)[:, None], n_classes, axis=1)


def spec_for(kind: str, n_items: int | None = None, rho: float = 0.5) -> SynthSpec:
    """The preset of ``kind`` (see :data:`KINDS`), optionally resized.

    * ``many-models``: 100 models, 10 classes; accuracies 0.55..0.80, top two 2 points apart.
    * ``many-classes``: 10 models, 1,000 classes; accuracies 0.62..0.80, top two 2 points apart.
    * ``imbalanced``: 8 models, binary, 5% positives; per-class recalls chosen so
      the most accurate model is not the one with the best positive recall.
    * ``near-ties``: 8 models, 4 classes; top two 0.5 points apart (0.900, 0.895).
    * ``shared-failure``: 10 models, 5 classes; on a slice of 25% of the items a
      bloc of 6 models (the most accurate ones off the slice) predicts the same
      wrong class, so the majority vote is wrong there; the true best (model 3,
      accuracy 0.80 = 0.84 off the slice, 0.68 on it) is a minority voter on the
      slice; second best 0.77 (model 5), the bloc 0.685..0.7225, the majority
      vote wrong on about 26% of all items (92% of the slice).
    """
    if kind == "many-models":
        acc = np.concatenate([[0.80, 0.78], np.linspace(0.76, 0.55, 98)])
        return SynthSpec(kind, n_items or 5000, 10, _flat_recall(acc, 10), rho=rho)
    if kind == "many-classes":
        acc = np.array([0.80, 0.78, 0.77, 0.75, 0.74, 0.72, 0.70, 0.68, 0.65, 0.62])
        return SynthSpec(kind, n_items or 10000, 1000, _flat_recall(acc, 1000), rho=rho, n_plausible=5)
    if kind == "imbalanced":
        # columns: recall on negatives, recall on positives (5% positives)
        recall = np.array([
            [0.988, 0.66],   # accuracy 0.9716
            [0.985, 0.82],   # 0.9768 (best)
            [0.994, 0.55],   # 0.9718
            [0.978, 0.85],   # 0.9716
            [0.991, 0.60],   # 0.9715
            [0.975, 0.90],   # 0.9713
            [0.988, 0.65],   # 0.9711
            [0.970, 0.80],   # 0.9615
        ])
        prior = np.array([0.95, 0.05])
        return SynthSpec(kind, n_items or 20000, 2, recall, class_prior=prior, rho=rho, n_plausible=1,
                         confuser_share=1.0)
    if kind == "near-ties":
        acc = np.array([0.900, 0.895, 0.880, 0.875, 0.870, 0.860, 0.850, 0.840])
        return SynthSpec(kind, n_items or 10000, 4, _flat_recall(acc, 4), rho=rho, n_plausible=2)
    if kind == "shared-failure":
        # accuracy off the slice / on the slice; overall = 0.75 off + 0.25 on
        off = np.array([0.95, 0.94, 0.93, 0.84, 0.92, 0.86, 0.91, 0.82, 0.90, 0.76])
        on = np.array([0.04, 0.04, 0.04, 0.68, 0.04, 0.50, 0.04, 0.45, 0.04, 0.40])
        bloc = (0, 1, 2, 4, 6, 8)
        # overall: 0.7225 0.715 0.7075 0.80 (best) 0.70 0.77 0.6925 0.7275 0.685 0.67
        return SynthSpec(kind, n_items or 5000, 5, _flat_recall(off, 5), rho=rho, n_plausible=3,
                         failure_share=0.25, failing_models=bloc, slice_recall=on, bloc_agreement=0.95)
    raise ValueError(f"unknown synthetic kind {kind!r}; choose one of {', '.join(KINDS)}")


@dataclasses.dataclass
class SynthCollection:
    """A generated collection: predictions ``(n_items, n_models)``, labels ``(n_items,)``."""

    predictions: np.ndarray
    labels: np.ndarray
    n_classes: int
    probabilities: np.ndarray | None
    info: dict[str, Any]
    #: ``(n_items,)`` bool, the shared-failure slice (None for kinds without one)
    failure_slice: np.ndarray | None = None


def generate(spec: SynthSpec, seed: int = 0, probabilities: bool = False) -> SynthCollection:
    """Draw a collection from ``spec`` (see the module docstring); same seed -> same arrays."""
    _check_spec(spec)
    shared = spec.failure_share != 0
    rng = np.random.default_rng(seed)
    n, m, k = spec.n_items, spec.n_models, spec.n_classes
    prior = np.full(k, 1.0 / k) if spec.class_prior is None else np.asarray(spec.class_prior, float)
    labels = rng.choice(k, size=n, p=prior / prior.sum())
    n_wrong = min(spec.n_plausible, k - 1)
    # plausible wrong classes of each item: distinct from the label, first one = confuser
    plausible = (labels[:, None] + _distinct_offsets(rng, n, k, n_wrong)) % k        # (n, n_wrong)
    difficulty = rng.standard_normal(n)
    miss = np.sqrt(spec.rho) * difficulty[:, None] + np.sqrt(1 - spec.rho) * rng.standard_normal((n, m))
    in_slice = np.zeros(n, dtype=bool)
    if shared:
        in_slice[rng.permutation(n)[:int(round(spec.failure_share * n))]] = True
    correct = np.zeros((n, m), dtype=bool)
    for c in range(k):
        if not shared:
            _exactly_right(correct, miss, labels == c, spec.recall[:, c])
        else:
            _exactly_right(correct, miss, (labels == c) & ~in_slice, spec.recall[:, c])
            _exactly_right(correct, miss, (labels == c) & in_slice, np.asarray(spec.slice_recall, float))
    use_confuser = rng.random((n, m)) < spec.confuser_share
    other = rng.integers(0, n_wrong, size=(n, m))
    wrong_class = np.where(use_confuser, plausible[:, :1], np.take_along_axis(plausible, other, axis=1))
    if shared:
        agree = rng.random((n, m)) < spec.bloc_agreement
        bloc = np.zeros(m, dtype=bool)
        bloc[list(spec.failing_models)] = True
        wrong_class = np.where(agree & bloc[None, :] & in_slice[:, None], plausible[:, :1], wrong_class)
    predictions = np.where(correct, labels[:, None], wrong_class).astype(np.int64)
    probs = _probabilities(rng, predictions, correct, labels, plausible, k) if probabilities else None
    accuracy = (predictions == labels[:, None]).mean(axis=0)
    order = np.argsort(-accuracy)
    info = {
        "kind": spec.kind, "seed": int(seed), "n_items": n, "n_models": m, "n_classes": k, "rho": spec.rho,
        "confuser_share": spec.confuser_share, "class_frequencies": np.bincount(labels, minlength=k)[:10].tolist()
        if k > 10 else (np.bincount(labels, minlength=k) / n).round(4).tolist(),
        "accuracy": accuracy.round(5).tolist(),
        "best_model": int(order[0]),
        "top_two_gap_points": round(float(accuracy[order[0]] - accuracy[order[1]]) * 100, 3) if m > 1 else None,
        "probabilities": bool(probabilities),
    }
    if not shared:
        return SynthCollection(predictions, labels.astype(np.int64), k, probs, info)
    info.update(_shared_failure_info(spec, predictions, labels, in_slice, int(order[0])))
    return SynthCollection(predictions, labels.astype(np.int64), k, probs, info, failure_slice=in_slice)


def _shared_failure_info(spec: SynthSpec, predictions: np.ndarray, labels: np.ndarray, in_slice: np.ndarray,
                         best_model: int) -> dict[str, Any]:
    """The ``synth.json`` fields describing the shared-failure slice and how the majority vote fares."""
    majority_wrong = majority_vote(predictions, spec.n_classes) != labels
    best_right = predictions[:, best_model] == labels
    return {
        "failure_share": spec.failure_share, "slice_items": int(in_slice.sum()),
        "failing_models": [int(i) for i in spec.failing_models], "bloc_agreement": spec.bloc_agreement,
        "slice_accuracy": (predictions[in_slice] == labels[in_slice, None]).mean(axis=0).round(5).tolist(),
        "majority_accuracy": round(float(1 - majority_wrong.mean()), 5),
        "majority_wrong_share": round(float(majority_wrong.mean()), 5),
        "majority_wrong_on_slice": round(float(majority_wrong[in_slice].mean()), 5),
        "best_right_where_majority_wrong": round(float(best_right[majority_wrong].mean()), 5)
        if majority_wrong.any() else None,
    }


def majority_vote(predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_items,)`` the class most models predict per item (ties go to the lowest class)."""
    counts = np.zeros((predictions.shape[0], n_classes), dtype=np.int64)
    np.add.at(counts, (np.arange(predictions.shape[0])[:, None], predictions), 1)
    return counts.argmax(axis=1)


def _exactly_right(correct: np.ndarray, miss: np.ndarray, mask: np.ndarray, recall: np.ndarray) -> None:
    """Mark right, per model, the ``round(recall * |mask|)`` items of ``mask`` with the smallest miss score."""
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return
    n_right = np.round(recall * rows.size).astype(int)                                 # (m,)
    order = np.argsort(miss[rows], axis=0, kind="stable")                              # easiest first
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(rows.size)[:, None], axis=0)
    correct[rows] = rank < n_right[None, :]


def _check_spec(spec: SynthSpec) -> None:
    """Raise ``ValueError`` for a spec :func:`generate` cannot draw from."""
    if spec.n_items < 10:
        raise ValueError(f"n_items must be >= 10, got {spec.n_items}")
    if not 0.0 <= spec.rho < 1.0:
        raise ValueError(f"rho must be in [0, 1), got {spec.rho}")
    if spec.recall.shape[1] != spec.n_classes or np.any((spec.recall < 0) | (spec.recall > 1)):
        raise ValueError("recall must be (n_models, n_classes) with values in [0, 1]")
    if spec.failure_share != 0:
        _check_shared_failure(spec)


def _check_shared_failure(spec: SynthSpec) -> None:
    m = spec.n_models
    if not 0.0 <= spec.failure_share < 1.0:
        raise ValueError(f"failure_share must be in [0, 1), got {spec.failure_share}")
    if not spec.failing_models or any(not 0 <= int(i) < m for i in spec.failing_models):
        raise ValueError(f"failing_models must name models 0..{m - 1}, got {list(spec.failing_models)}")
    if spec.slice_recall is None or np.shape(spec.slice_recall) != (m,) or np.any(
            (np.asarray(spec.slice_recall) < 0) | (np.asarray(spec.slice_recall) > 1)):
        raise ValueError("slice_recall must be (n_models,) with values in [0, 1]")
    if not 0.0 <= spec.bloc_agreement <= 1.0:
        raise ValueError(f"bloc_agreement must be in [0, 1], got {spec.bloc_agreement}")


def _distinct_offsets(rng: np.random.Generator, n: int, k: int, count: int) -> np.ndarray:
    """``(n, count)`` distinct offsets in ``1 .. k-1`` per row (so label + offset != label)."""
    if count == k - 1:
        return np.argsort(rng.random((n, k - 1)), axis=1) + 1
    out = rng.integers(1, k, size=(n, count))
    for _ in range(100):
        dup = np.zeros(n, dtype=bool)
        for a in range(count):
            for b in range(a):
                dup |= out[:, a] == out[:, b]
        if not dup.any():
            return out
        out[dup] = rng.integers(1, k, size=(int(dup.sum()), count))
    raise RuntimeError("could not draw distinct confuser classes")


def _probabilities(rng, predictions, correct, labels, plausible, k) -> np.ndarray:
    """``(n, m, k)`` class probabilities consistent with the predictions.

    The predicted class gets the largest share; the rest is spread over the
    item's other candidate classes (its label and its plausible wrong classes).
    """
    n, m = predictions.shape
    candidates = np.concatenate([labels[:, None], plausible], axis=1)                  # (n, P + 1)
    floor = 1.0 / candidates.shape[1]
    conf = np.where(correct, rng.beta(6, 2, size=(n, m)), rng.beta(3, 3, size=(n, m)))
    conf = floor + (1.0 - floor) * conf
    probs = np.zeros((n, m, k), dtype=np.float32)
    rows = np.arange(n)[:, None]
    for w in range(candidates.shape[1]):
        probs[rows, np.arange(m)[None, :], candidates[:, w][:, None]] += 1.0
    # the predicted class holds `conf`; mass put on it above is replaced
    probs[rows, np.arange(m)[None, :], predictions] = 0.0
    probs /= np.maximum(probs.sum(axis=2, keepdims=True), 1e-12)
    probs *= (1.0 - conf)[:, :, None]
    probs[rows, np.arange(m)[None, :], predictions] = conf
    return probs


def write_collection(collection: SynthCollection, out: str | Path, fmt: str = "auto") -> list[Path]:
    """Write the loader's files into ``out``; returns the paths written.

    ``fmt``: ``"csv"`` (``predictions.csv``, ``oracle.csv``, ``labelspace.csv``),
    ``"npy"`` (``predictions.npy``, ``oracle.npy``, ``labelspace.npy``), or
    ``"auto"``: npy once the matrix has more than 200,000 cells.
    Probabilities, when present, always go to ``probabilities.npy``.
    A ``synth.json`` records how the collection was made.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory")
    if fmt not in ("auto", "csv", "npy"):
        raise ValueError(f"format must be auto, csv or npy, got {fmt!r}")
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("predictions", "oracle", "labelspace"):
        for ext in (".csv", ".npy"):
            (out / f"{stale}{ext}").unlink(missing_ok=True)
    (out / "probabilities.npy").unlink(missing_ok=True)
    if fmt == "auto":
        fmt = "npy" if collection.predictions.size > 200_000 else "csv"
    space = np.arange(collection.n_classes)
    written = []
    if fmt == "npy":
        for stem, arr in (("predictions", collection.predictions), ("oracle", collection.labels),
                          ("labelspace", space)):
            np.save(out / f"{stem}.npy", arr)
            written.append(out / f"{stem}.npy")
    else:
        np.savetxt(out / "predictions.csv", collection.predictions, fmt="%d", delimiter=",")
        np.savetxt(out / "oracle.csv", collection.labels, fmt="%d")
        np.savetxt(out / "labelspace.csv", space, fmt="%d")
        written += [out / "predictions.csv", out / "oracle.csv", out / "labelspace.csv"]
    if collection.probabilities is not None:
        np.save(out / "probabilities.npy", collection.probabilities)
        written.append(out / "probabilities.npy")
    (out / "synth.json").write_text(json.dumps(collection.info, indent=2) + "\n")
    written.append(out / "synth.json")
    return written
