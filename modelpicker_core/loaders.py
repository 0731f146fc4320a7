"""Loading a model collection: predictions, label space, true labels.

A collection directory holds, in the original ModelPicker tool's format
(``easeml/modelpicker``), headerless CSV files:

* ``predictions.csv``: one row per item, one column per model, the class each
  model predicts (integers, possibly written as floats such as ``3.0e+00``);
* ``labelspace.csv``: the classes, one value per line (or all on one line);
* ``oracle.csv`` (optional for :func:`load_collection` with
  ``require_labels=False``): one true class per line.

or the same arrays as NumPy ``.npy`` files (``predictions.npy``,
``oracle.npy``, optionally ``labelspace.npy``; without it the label space is
the sorted set of classes that occur).  An optional ``probabilities.npy`` of
shape ``(n_items, n_models, n_classes)`` holds each model's class
probabilities, in label-space order, for strategies that use them.

Class values may be any integers (``-1``, ``7``, ``1000``); they are mapped to
``0 .. n_classes-1`` in label-space order and the mapping is kept in
:attr:`Collection.classes`.  Every malformed input raises :class:`DataError`
naming the file and the (1-based) row.
"""
from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """A collection file is missing or malformed; the message names file and row."""


@dataclasses.dataclass(frozen=True)
class Collection:
    """An ``(n_items, n_models)`` prediction matrix in one label space.

    Attributes
    ----------
    predictions : ``(n_items, n_models)`` int64, class indices ``0 .. n_classes-1``.
    labels : ``(n_items,)`` int64 true class indices, or None when not given.
    classes : ``(n_classes,)`` int64, the original class value of each index.
    probabilities : ``(n_items, n_models, n_classes)`` float or None.
    source : the directory the collection was read from.
    """

    predictions: np.ndarray
    labels: np.ndarray | None
    classes: np.ndarray
    probabilities: np.ndarray | None = None
    source: str = ""

    @property
    def n_items(self) -> int:
        return int(self.predictions.shape[0])

    @property
    def n_models(self) -> int:
        return int(self.predictions.shape[1])

    @property
    def n_classes(self) -> int:
        return int(self.classes.shape[0])

    def class_value(self, index: int) -> int:
        """Original label-space value of class index ``index``."""
        return int(self.classes[index])

    def class_index(self, value: int) -> int:
        """Class index of the label-space value ``value``; ValueError if absent."""
        hits = np.flatnonzero(self.classes == value)
        if hits.size == 0:
            raise ValueError(f"{value} is not in the label space {format_classes(self.classes)}")
        return int(hits[0])


def format_classes(classes: np.ndarray) -> str:
    return ", ".join(str(int(c)) for c in classes)


# ------------------------------------------------------------------ parsing
#: class values are stored as int64; a value outside this range cannot be one
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


def _as_integer(text: str, where: str, first_row: bool = False) -> int:
    """``text`` as an int64 class value; DataError naming ``where`` and the text otherwise.

    Integer text is parsed exactly (a float would round ``2**53 + 1``); float
    text such as ``3.0e+00`` (the original tool's files) must hold an integer.
    Text on the first row is most often a header, which the message says.
    """
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            hint = " (the files have no header row: the first row is an item)" if first_row else ""
            raise DataError(f"{where}: {text!r} is not a number{hint}") from None
        if not np.isfinite(number) or not number.is_integer():
            raise DataError(f"{where}: {text!r} is not an integer class") from None
        value = int(number)
    if not INT64_MIN <= value <= INT64_MAX:
        raise DataError(f"{where}: {text!r} is out of range for a class value "
                        f"(classes must lie in {INT64_MIN}..{INT64_MAX})")
    return value


def _decode(path: Path) -> str:
    """The text of ``path`` as UTF-8 (a leading byte-order mark is dropped).

    Why not the locale's encoding: the same file must load the same way on
    every machine, and a decoding error must name the file and the row
    instead of surfacing as a bare codec error.
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError(
            f"{path.name} row {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text; "
            "the CSV files must be UTF-8 (save or convert the file as UTF-8)"
        ) from None


def _read_csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank rows as ``(line_number, fields)``; blank lines only at the end."""
    reader = csv.reader(io.StringIO(_decode(path), newline=""))
    try:
        rows = [(n, [f.strip() for f in fields]) for n, fields in enumerate(reader, start=1)]
    except csv.Error as exc:  # NUL bytes, an oversized field
        raise DataError(f"{path.name} row {reader.line_num}: not a CSV row ({exc})") from None
    while rows and not any(rows[-1][1]):
        rows.pop()
    for line, fields in rows:
        if not any(fields):
            raise DataError(f"{path.name} row {line}: blank line")
    if not rows:
        raise DataError(f"{path.name} is empty")
    return rows


def read_prediction_csv(path: Path) -> np.ndarray:
    """``(n_items, n_models)`` int64 raw class values from a headerless CSV."""
    rows = _read_csv_rows(path)
    width = len(rows[0][1])
    matrix = np.empty((len(rows), width), dtype=np.int64)
    for i, (line, fields) in enumerate(rows):
        if len(fields) != width:
            raise DataError(
                f"{path.name} row {line}: {len(fields)} values, expected {width} "
                f"(one per model, as in row {rows[0][0]})"
            )
        for j, text in enumerate(fields):
            matrix[i, j] = _as_integer(text, f"{path.name} row {line}, column {j + 1}", i == 0)
    return matrix


def read_column_csv(path: Path) -> np.ndarray:
    """``(n,)`` int64 raw class values, one per row."""
    rows = _read_csv_rows(path)
    values = np.empty(len(rows), dtype=np.int64)
    for i, (line, fields) in enumerate(rows):
        if len(fields) != 1:
            raise DataError(f"{path.name} row {line}: {len(fields)} values, expected 1")
        values[i] = _as_integer(fields[0], f"{path.name} row {line}", i == 0)
    return values


def read_labelspace_csv(path: Path) -> np.ndarray:
    """Class values, one per line or all on one line, in file order."""
    rows = _read_csv_rows(path)
    if len(rows) == 1:
        return np.array([_as_integer(t, f"{path.name} row {rows[0][0]}", True) for t in rows[0][1]], dtype=np.int64)
    return read_column_csv(path)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path.name}: not a readable .npy array ({exc})") from None


def _integer_npy(path: Path, ndim: int) -> np.ndarray:
    """Integer array from ``.npy``, allowing floats that hold integers."""
    arr = _load_npy(path)
    if ndim == 1 and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != ndim:
        shape = "(n_items, n_models)" if ndim == 2 else "(n,)"
        raise DataError(f"{path.name}: expected a {ndim}-D array {shape}, got shape {arr.shape}")
    if arr.size == 0:
        raise DataError(f"{path.name} is empty")
    def where(bad: np.ndarray) -> tuple[str, object]:
        pos = np.argwhere(bad)[0]
        return f"row {pos[0] + 1}" + (f", column {pos[1] + 1}" if ndim == 2 else ""), arr[tuple(pos)].item()

    if arr.dtype == bool or (np.issubdtype(arr.dtype, np.integer) and np.iinfo(arr.dtype).max <= INT64_MAX):
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.integer):  # uint64: values above INT64_MAX would wrap around
        too_large = arr > INT64_MAX
        if too_large.any():
            at, value = where(too_large)
            raise DataError(f"{path.name} {at}: {value} is out of range for a class value "
                            f"(classes must lie in {INT64_MIN}..{INT64_MAX})")
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"{path.name}: expected numbers, got dtype {arr.dtype}")
    bad = ~(np.isfinite(arr) & (np.mod(arr, 1) == 0))
    if bad.any():
        at, value = where(bad)
        raise DataError(f"{path.name} {at}: {value!r} is not an integer class")
    # 2**63 is a float64 exactly; anything from there up (or below -2**63) does not fit int64
    out_of_range = (arr >= 2.0**63) | (arr < -(2.0**63))
    if out_of_range.any():
        at, value = where(out_of_range)
        raise DataError(f"{path.name} {at}: {value!r} is out of range for a class value "
                        f"(classes must lie in {INT64_MIN}..{INT64_MAX})")
    return arr.astype(np.int64)


# ------------------------------------------------------------------ helpers
def _find(directory: Path, stem: str, required: bool) -> Path | None:
    found = [directory / f"{stem}{ext}" for ext in (".csv", ".npy") if (directory / f"{stem}{ext}").is_file()]
    if len(found) > 1:
        raise DataError(f"both {stem}.csv and {stem}.npy are in {directory}; keep one")
    if not found:
        if required:
            raise DataError(f"no {stem}.csv or {stem}.npy in {directory}")
        return None
    return found[0]


def _to_indices(raw: np.ndarray, classes: np.ndarray, filename: str) -> np.ndarray:
    """Map raw class values to label-space indices; DataError at the first unknown value."""
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]
    pos = np.clip(np.searchsorted(sorted_classes, raw), 0, len(classes) - 1)
    unknown = sorted_classes[pos] != raw
    if unknown.any():
        at = np.argwhere(unknown)[0]
        where = f"row {at[0] + 1}" + (f", column {at[1] + 1}" if raw.ndim == 2 else "")
        raise DataError(
            f"{filename} {where}: class {raw[tuple(at)]} is not in the label space ({format_classes(classes)})"
        )
    return order[pos].astype(np.int64)


def _read(path: Path, kind: str) -> np.ndarray:
    if path.suffix == ".npy":
        return _integer_npy(path, 2 if kind == "predictions" else 1)
    readers = {"predictions": read_prediction_csv, "labels": read_column_csv, "labelspace": read_labelspace_csv}
    return readers[kind](path)


def load_probabilities(path: Path, n_items: int, n_models: int, n_classes: int) -> np.ndarray:
    """``(n_items, n_models, n_classes)`` probabilities from ``.npy``, checked."""
    arr = _load_npy(path)
    expected = (n_items, n_models, n_classes)
    if arr.shape != expected:
        raise DataError(f"{path.name}: shape {arr.shape}, expected (n_items, n_models, n_classes) = {expected}")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{path.name}: expected numbers, got dtype {arr.dtype}")
    arr = arr.astype(float)
    bad = ~(np.isfinite(arr) & (arr >= 0) & (arr <= 1))
    if bad.any():
        i, j, c = np.argwhere(bad)[0]
        raise DataError(f"{path.name} row {i + 1}, model {j + 1}, class {c + 1}: {float(arr[i, j, c])!r} "
                        "is not a probability in [0, 1]")
    return arr


def load_collection(directory: str | Path, require_labels: bool = True) -> Collection:
    """Read a collection directory (see the module docstring for the files).

    Parameters
    ----------
    directory : folder holding ``predictions``, ``labelspace`` and ``oracle`` files.
    require_labels : raise :class:`DataError` when there are no true labels
        (the benchmark needs them; interactive picking does not).

    Returns
    -------
    :class:`Collection` with predictions ``(n_items, n_models)`` and labels
    ``(n_items,)`` as class indices.
    """
    if not str(directory).strip():  # Path("") is the working directory: never what was meant
        raise DataError("the collection directory is empty (''); name a directory")
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory} is not a directory")
    pred_path = _find(directory, "predictions", required=True)
    space_path = _find(directory, "labelspace", required=pred_path.suffix == ".csv")
    label_path = _find(directory, "oracle", required=require_labels)

    raw_preds = _read(pred_path, "predictions")
    raw_labels = _read(label_path, "labels") if label_path else None
    if raw_labels is not None and raw_labels.shape[0] != raw_preds.shape[0]:
        raise DataError(
            f"{label_path.name} has {raw_labels.shape[0]} rows but {pred_path.name} has {raw_preds.shape[0]}; "
            "they must have one row per item"
        )
    if space_path is not None:
        classes = _read(space_path, "labelspace")
        values, counts = np.unique(classes, return_counts=True)
        if (counts > 1).any():
            raise DataError(f"{space_path.name}: class {values[counts > 1][0]} is listed more than once")
    else:
        present = [raw_preds.ravel()] + ([raw_labels] if raw_labels is not None else [])
        classes = np.unique(np.concatenate(present))
    if classes.shape[0] < 2:
        raise DataError(f"the label space needs at least 2 classes, got {classes.shape[0]}")

    predictions = _to_indices(raw_preds, classes, pred_path.name)
    labels = _to_indices(raw_labels, classes, label_path.name) if raw_labels is not None else None

    prob_path = directory / "probabilities.npy"
    probabilities = (
        load_probabilities(prob_path, *predictions.shape, classes.shape[0]) if prob_path.is_file() else None
    )
    return Collection(predictions, labels, classes.astype(np.int64), probabilities, str(directory))
