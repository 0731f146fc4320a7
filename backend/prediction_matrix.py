"""The candidates' cached answers as a class matrix: the input of every fit (see :mod:`backend.belief`)."""
from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np

from .labelconfig import ChoicesControl

#: separators of :meth:`backend.store.tasks.TaskTables.packed_predictions` (ASCII record and unit separators)
RECORD_SEPARATOR, UNIT_SEPARATOR = "\x1e", "\x1f"


def prediction_matrix(batches: Iterable[list[tuple[int, str]]], candidates: list[str],
                      choices: ChoicesControl, tasks: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The tasks every candidate has a prediction for, and their class matrix, built a batch at a time.

    A project of 100,000 tasks and 100 candidates has 10,000,000 cached
    answers; held as Python objects they took gigabytes.  Here each task's
    answers come as one string, split in C, and each distinct
    ``candidate<US>choice`` pair of a batch is looked up once.  Each batch
    becomes the rows of its tasks at once, so no array per answer outlives its
    batch (they took about 7 times the matrix at the end).

    Parameters
    ----------
    batches : ``(task, packed)`` rows from the cache
        (:meth:`backend.store.tasks.TaskTables.packed_predictions`), in any order.
    candidates : candidate cache keys in pool order (columns of the matrix);
        answers of other keys are left out.
    tasks : only these tasks (a round's), or every task when None.

    Returns
    -------
    task_ids : ``(n_tasks,)`` sorted task ids.
    matrix : ``(n_tasks, n_models)`` class indices.
    """
    column = {c: j for j, c in enumerate(candidates)}
    index = {v: choices.index(v) for v in (*choices.values, *choices.aliases)}
    wanted = None if tasks is None else np.fromiter(tasks, dtype=np.int64)
    ids, rows = [], []
    for batch in batches:
        batch_ids, batch_rows = _batch_rows(batch, column, index, wanted, len(candidates))
        ids.append(batch_ids)
        rows.append(batch_rows)
    task_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    matrix = np.concatenate(rows) if rows else np.full((0, len(candidates)), -1, dtype=np.int64)
    del rows
    task_ids, matrix = _merged(task_ids, matrix)
    complete = (matrix >= 0).all(axis=1) if len(candidates) else np.ones(len(task_ids), dtype=bool)
    return task_ids[complete], matrix[complete]


def _batch_rows(batch: list[tuple[int, str]], column: dict[str, int], index: dict[str, int],
                wanted: np.ndarray | None, n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """``(task ids, rows)`` of one batch: its sorted distinct tasks with a kept answer and their ``(n, n_models)``
    class indices, -1 where a candidate has none."""
    task_of_row, packed = zip(*batch)
    pieces = [p.split(RECORD_SEPARATOR) for p in packed]
    counts = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    distinct, inverse = np.unique(np.asarray(list(itertools.chain.from_iterable(pieces))), return_inverse=True)
    del pieces
    pairs = [str(d).split(UNIT_SEPARATOR) for d in distinct]
    bad = next((p for p in pairs if len(p) != 2), None)
    if bad is not None:
        raise ValueError(f"a cached prediction {UNIT_SEPARATOR.join(bad)!r} is not one candidate and one "
                         f"choice (a name or Choice value holds an ASCII separator, 30 or 31)")
    col = np.array([column.get(p[0], -1) for p in pairs], dtype=np.int32)[inverse]
    code = np.array([index.get(p[1], -1) for p in pairs], dtype=np.int32)[inverse]
    task = np.repeat(np.asarray(task_of_row, dtype=np.int64), counts)
    keep = col >= 0
    if wanted is not None:
        keep &= np.isin(task, wanted)
    task_ids, row = np.unique(task[keep], return_inverse=True)
    rows = np.full((len(task_ids), n_models), -1, dtype=np.int64)
    rows[row, col[keep]] = code[keep]
    return task_ids, rows


def _merged(task_ids: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows sorted by task; a task found in several batches gets one row (a later batch's answer wins)."""
    if task_ids.size and np.all(task_ids[1:] > task_ids[:-1]):
        return task_ids, matrix  # the store's batches: ranges of tasks, in order
    distinct, row = np.unique(task_ids, return_inverse=True)
    if distinct.size == task_ids.size:
        order = np.argsort(task_ids, kind="stable")
        return task_ids[order], matrix[order]
    merged = np.full((distinct.size, matrix.shape[1]), -1, dtype=np.int64)
    r, c = np.nonzero(matrix >= 0)
    merged[row[r], c] = matrix[r, c]
    return distinct, merged
