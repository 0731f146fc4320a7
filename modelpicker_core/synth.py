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
KINDS = ("many-models", "many-classes", "imbalanced", "near-ties")


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
    """

    kind: str
    n_items: int
    n_classes: int
    recall: np.ndarray
    class_prior: np.ndarray | None = None
    rho: float = 0.5
    confuser_share: float = 0.6
    n_plausible: int = 3

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
    raise ValueError(f"unknown synthetic kind {kind!r}; choose one of {', '.join(KINDS)}")


@dataclasses.dataclass
class SynthCollection:
    """A generated collection: predictions ``(n_items, n_models)``, labels ``(n_items,)``."""

    predictions: np.ndarray
    labels: np.ndarray
    n_classes: int
    probabilities: np.ndarray | None
    info: dict[str, Any]


def generate(spec: SynthSpec, seed: int = 0, probabilities: bool = False) -> SynthCollection:
    """Draw a collection from ``spec`` (see the module docstring); same seed -> same arrays."""
    if spec.n_items < 10:
        raise ValueError(f"n_items must be >= 10, got {spec.n_items}")
    if not 0.0 <= spec.rho < 1.0:
        raise ValueError(f"rho must be in [0, 1), got {spec.rho}")
    if spec.recall.shape[1] != spec.n_classes or np.any((spec.recall < 0) | (spec.recall > 1)):
        raise ValueError("recall must be (n_models, n_classes) with values in [0, 1]")
    rng = np.random.default_rng(seed)
    n, m, k = spec.n_items, spec.n_models, spec.n_classes
    prior = np.full(k, 1.0 / k) if spec.class_prior is None else np.asarray(spec.class_prior, float)
    labels = rng.choice(k, size=n, p=prior / prior.sum())
    n_wrong = min(spec.n_plausible, k - 1)
    # plausible wrong classes of each item: distinct from the label, first one = confuser
    plausible = (labels[:, None] + _distinct_offsets(rng, n, k, n_wrong)) % k        # (n, n_wrong)
    difficulty = rng.standard_normal(n)
    miss = np.sqrt(spec.rho) * difficulty[:, None] + np.sqrt(1 - spec.rho) * rng.standard_normal((n, m))
    correct = np.zeros((n, m), dtype=bool)
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        if rows.size == 0:
            continue
        n_right = np.round(spec.recall[:, c] * rows.size).astype(int)                 # (m,)
        order = np.argsort(miss[rows], axis=0, kind="stable")                          # easiest first
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(rows.size)[:, None], axis=0)
        correct[rows] = rank < n_right[None, :]
    use_confuser = rng.random((n, m)) < spec.confuser_share
    other = rng.integers(0, n_wrong, size=(n, m))
    wrong_class = np.where(use_confuser, plausible[:, :1], np.take_along_axis(plausible, other, axis=1))
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
    return SynthCollection(predictions, labels.astype(np.int64), k, probs, info)


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
