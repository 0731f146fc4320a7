"""Build the offline digits demo: candidate models, their pool file, Label Studio tasks.

scikit-learn's bundled 8x8 digits (``load_digits``, 1797 images, classes 0-9)
are shuffled with ``--seed`` and split into a training part and ``--tasks``
held-out images.  Thirteen candidates (model families, training-set sizes,
pixel subsets, one deliberately weak tree) are trained on slices of the
training part: a few strong ones close together at the top, the rest clearly
worse.  The held-out images become the Label Studio tasks; their true
labels go to a separate file that only the simulated annotators read.

Written to ``--out`` (default ``examples/digits/generated/``):

``tasks.json``
    Label Studio tasks: ``{"data": {"image": <PNG data URI>, "pixels": [64 ints],
    "ref_id": "digit-0000"}}``.  ``pixels`` is what the candidates read.
``label_config.xml``
    ``<Image>`` plus one ``<Choices>`` with the values ``"0"`` .. ``"9"``.
``labels.json``
    ``{ref_id: true label}``, held back from the tasks.
``models/<name>.joblib``
    each candidate, a scikit-learn pipeline taking the 64 pixels.
``predictions/<name>.csv``
    each candidate's answer per task (``ref_id,label``).
``pool.yaml``
    the backend's candidate pool (``MODELPICKER_POOL``).
``summary.json``
    each candidate's true accuracy on the tasks, and the true best.

Usage: ``python examples/digits/make_example.py [--out DIR] [--tasks N] [--seed S]``.
Same arguments, same files (joblib files aside, whose bytes may differ; the
models inside predict the same).
"""
from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import yaml
from PIL import Image
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "generated"
CLASSES = [str(digit) for digit in range(10)]
#: the task data field the candidates read, and the one that names a task
PIXELS_FIELD, REF_FIELD, IMAGE_FIELD = "pixels", "ref_id", "image"
IMAGE_SCALE = 12  # 8x8 -> 96x96 pixels

#: each digit's hotkey is the digit itself (Label Studio's default numbers choices 1..9, 0 in order, so
#: pressing 7 would choose "6")
LABEL_CONFIG = f"""<View>
  <Image name="{IMAGE_FIELD}" value="${IMAGE_FIELD}" zoom="true"/>
  <Header value="Which digit is this?"/>
  <Choices name="digit" toName="{IMAGE_FIELD}" choice="single-radio" showInline="true" required="true">
{chr(10).join(f'    <Choice value="{c}" hotkey="{c}"/>' for c in CLASSES)}
  </Choices>
</View>
"""


def _pixel_columns(keep: Callable[[int, int], bool]) -> list[int]:
    """Indices of the 8x8 pixels (row, column) for which ``keep`` is true."""
    return [row * 8 + col for row in range(8) for col in range(8) if keep(row, col)]


def _on_columns(columns: list[int], model: ClassifierMixin) -> Pipeline:
    """``model`` fed only the given pixel columns of the full 64-pixel input."""
    return make_pipeline(ColumnTransformer([("keep", "passthrough", columns)]), model)


@dataclass(frozen=True)
class Candidate:
    """One candidate: a name, what it is, a model factory and how many training images it sees.

    ``n_train`` None = the whole training part.
    """

    name: str
    description: str
    build: Callable[[int], ClassifierMixin]
    n_train: int | None = None


def candidates() -> list[Candidate]:
    """The demo's thirteen candidates, roughly best to worst (true accuracy is measured, not assumed).

    A few strong candidates lie close together at the top (as in a real
    choice among good models), the rest are clearly worse down to a weak one.
    """
    left_half = _pixel_columns(lambda row, col: col < 4)
    top_rows = _pixel_columns(lambda row, col: row < 3)
    return [
        Candidate("svc_rbf", "RBF support vector machine, all training images",
                  lambda seed: SVC(gamma=0.001, C=10, random_state=seed)),
        Candidate("knn1", "1-nearest neighbour, all training images",
                  lambda seed: KNeighborsClassifier(n_neighbors=1)),
        Candidate("random_forest_100", "random forest of 100 trees, all training images",
                  lambda seed: RandomForestClassifier(n_estimators=100, random_state=seed)),
        Candidate("svc_rbf_300", "RBF support vector machine, 300 training images",
                  lambda seed: SVC(gamma=0.001, C=10, random_state=seed), n_train=300),
        Candidate("random_forest_20", "random forest of 20 trees, all training images",
                  lambda seed: RandomForestClassifier(n_estimators=20, random_state=seed)),
        Candidate("logreg", "standardised logistic regression, all training images",
                  lambda seed: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
        Candidate("knn3_300", "3-nearest neighbours, 300 training images",
                  lambda seed: KNeighborsClassifier(n_neighbors=3), n_train=300),
        Candidate("svc_left_half", "RBF SVM that sees only the left half of each image",
                  lambda seed: _on_columns(left_half, SVC(gamma=0.002, random_state=seed))),
        Candidate("logreg_100", "logistic regression, only 100 training images",
                  lambda seed: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
                  n_train=100),
        Candidate("gaussian_nb", "Gaussian naive Bayes, all training images",
                  lambda seed: GaussianNB()),
        Candidate("knn5_top_rows", "5-nearest neighbours on the top 3 pixel rows only",
                  lambda seed: _on_columns(top_rows, KNeighborsClassifier(n_neighbors=5))),
        Candidate("tree_depth6", "decision tree of depth 6",
                  lambda seed: DecisionTreeClassifier(max_depth=6, random_state=seed)),
        Candidate("tree_depth3_weak", "deliberately weak decision tree of depth 3",
                  lambda seed: DecisionTreeClassifier(max_depth=3, random_state=seed)),
    ]


def split(n_tasks: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle the digits and hold out ``n_tasks`` of them.

    Returns ``(X_train, y_train, X_tasks, y_tasks)`` with ``X`` of shape
    ``(n, 64)`` (pixel intensities 0-16) and ``y`` of shape ``(n,)``.
    """
    X, y = load_digits(return_X_y=True)
    if not 10 <= n_tasks <= len(y) - 300:
        raise ValueError(f"--tasks must be between 10 and {len(y) - 300}, got {n_tasks}")
    order = np.random.default_rng(seed).permutation(len(y))
    tasks, train = order[:n_tasks], order[n_tasks:]
    return X[train], y[train], X[tasks], y[tasks]


def png_data_uri(pixels: np.ndarray) -> str:
    """A ``data:image/png;base64`` URI of one 8x8 digit (values 0-16), dark ink on white, upscaled."""
    grey = (255 - np.asarray(pixels, dtype=float).reshape(8, 8) * (255 / 16)).round().astype(np.uint8)
    image = Image.fromarray(grey, mode="L").resize((8 * IMAGE_SCALE, 8 * IMAGE_SCALE), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def task_ids(n_tasks: int) -> list[str]:
    return [f"digit-{i:04d}" for i in range(n_tasks)]


def pool_document(names: list[str]) -> dict[str, Any]:
    """The backend's candidate pool (format of ``backend/pool.py``): one joblib pipeline per candidate.

    Every candidate reads the task data field ``pixels`` (64 numbers) and
    outputs a class 0-9, whose text is the Choice value, so no ``labels`` map
    is needed.
    """
    return {
        "data_field": PIXELS_FIELD,
        "candidates": [
            {"name": name, "source": {"type": "sklearn", "path": f"models/{name}.joblib"}}
            for name in names
        ],
    }


def build(out: Path, n_tasks: int = 400, seed: int = 0) -> dict[str, Any]:
    """Train the candidates and write every file of the example into ``out``; return the summary."""
    X_train, y_train, X_tasks, y_tasks = split(n_tasks, seed)
    refs = task_ids(n_tasks)
    (out / "models").mkdir(parents=True, exist_ok=True)
    (out / "predictions").mkdir(exist_ok=True)

    rows = []
    for candidate in candidates():
        n_train = len(y_train) if candidate.n_train is None else candidate.n_train
        model = candidate.build(seed).fit(X_train[:n_train], y_train[:n_train])
        predicted = model.predict(X_tasks)
        joblib.dump(model, out / "models" / f"{candidate.name}.joblib")
        with open(out / "predictions" / f"{candidate.name}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([REF_FIELD, "label"])
            writer.writerows(zip(refs, (str(int(p)) for p in predicted)))
        rows.append({
            "name": candidate.name,
            "description": candidate.description,
            "n_train": int(n_train),
            "accuracy": float(np.mean(predicted == y_tasks)),
            "n_correct": int(np.sum(predicted == y_tasks)),
        })

    tasks = [
        {"data": {IMAGE_FIELD: png_data_uri(x), PIXELS_FIELD: [int(v) for v in x], REF_FIELD: ref}}
        for x, ref in zip(X_tasks, refs)
    ]
    (out / "tasks.json").write_text(json.dumps(tasks))
    (out / "labels.json").write_text(json.dumps({ref: str(int(label)) for ref, label in zip(refs, y_tasks)},
                                                indent=0))
    (out / "label_config.xml").write_text(LABEL_CONFIG)
    (out / "pool.yaml").write_text(
        "# Generated by examples/digits/make_example.py; paths are relative to this file.\n"
        + "".join(f"# {r['name']}: {r['description']}\n" for r in rows)
        + yaml.safe_dump(pool_document([r["name"] for r in rows]), sort_keys=False))

    accuracies = np.array([r["n_correct"] for r in rows])
    best = int(np.argmax(accuracies))
    summary = {
        "seed": seed,
        "n_tasks": n_tasks,
        "n_train": int(len(y_train)),
        "candidates": sorted(rows, key=lambda r: -r["n_correct"]),
        "true_best": rows[best]["name"],
        "true_best_unique": bool(np.sum(accuracies == accuracies[best]) == 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The candidates' true accuracy on the tasks as a text table, best first."""
    lines = [
        f"{summary['n_tasks']} tasks, {summary['n_train']} training images, seed {summary['seed']}",
        f"{'candidate':<18} {'train':>5} {'correct':>9} {'accuracy':>8}  description",
    ]
    for row in summary["candidates"]:
        lines.append(f"{row['name']:<18} {row['n_train']:>5} {row['n_correct']:>5}/{summary['n_tasks']:<3} "
                     f"{row['accuracy']:>8.4f}  {row['description']}")
    unique = "unique" if summary["true_best_unique"] else "NOT unique (tied)"
    lines.append(f"true best: {summary['true_best']} ({unique})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--tasks", type=int, default=400, help="held-out images to turn into tasks (default: 400)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle and model seed (default: 0)")
    args = parser.parse_args(argv)
    try:
        summary = build(args.out, args.tasks, args.seed)
    except ValueError as exc:
        print(f"make_example.py: error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
