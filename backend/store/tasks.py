"""Tasks and their cached candidate predictions (and recorded prediction failures)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from .connection import StoreConnection, replace_sql
from .schema import in_lists


class TaskTables(StoreConnection):
    """The ``tasks``, ``deleted_tasks``, ``predictions`` and ``prediction_errors`` tables of
    the store."""

    # --------------------------------------------------------------------- tasks
    def upsert_tasks(self, project: int, tasks: Iterable[tuple[int, dict]]) -> list[int]:
        stored = []
        with self.transaction():
            for task, data in tasks:
                if self._query("SELECT 1 FROM deleted_tasks WHERE project = ? AND task = ?", (project, task)):
                    continue
                text = json.dumps(data, sort_keys=True)
                old = self._query("SELECT data FROM tasks WHERE project = ? AND task = ?", (project, task))
                if not old or old[0][0] != text:
                    if old:  # new data: the cached predictions (and failures) were made from the old one
                        for table in ("predictions", "prediction_errors"):
                            self._execute(f"DELETE FROM {table} WHERE project = ? AND task = ?", (project, task))
                    self._replace("tasks", (project, task, text))
                    self._execute("INSERT INTO task_rounds VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                     (project, task, self.current_round(project)))
                    self._bump(project, matrix=True)
                stored.append(task)
        return stored

    def delete_tasks(self, project: int, task_ids: Iterable[int]) -> None:
        with self.transaction():
            for task in task_ids:
                self._drop_task_rows(project, task)
                self._execute("INSERT INTO deleted_tasks VALUES (?, ?) ON CONFLICT DO NOTHING", (project, task))
            self._bump(project, matrix=True)

    def _drop_task_rows(self, project: int, task: int) -> None:
        """Delete the task with its predictions, annotations, round, push mark and recorded failures."""
        for table in ("tasks", "predictions", "annotations", "task_rounds", "candidates_pushed",
                      "prediction_errors"):
            self._execute(f"DELETE FROM {table} WHERE project = ? AND task = ?", (project, task))

    def task_data(self, project: int, task_ids: Iterable[int]) -> dict[int, dict]:
        out = {}
        for chunk, marks in in_lists(task_ids):
            for task, data in self._query(f"SELECT task, data FROM tasks WHERE project = ? AND task IN ({marks})",
                                          [project, *chunk]):
                out[int(task)] = json.loads(data)
        return out

    def task_count(self, project: int) -> int:
        return int(self._query("SELECT COUNT(*) FROM tasks WHERE project = ?", (project,))[0][0])

    def task_ids(self, project: int) -> list[int]:
        return [int(t) for t, in self._query("SELECT task FROM tasks WHERE project = ? ORDER BY task", (project,))]

    def stored_task_ids(self, project: int, task_ids: Iterable[int]) -> set[int]:
        """Those of ``task_ids`` the store holds."""
        return self._select_ids("SELECT task FROM tasks WHERE project = ? AND task IN ({marks})", project, task_ids)

    def new_task_ids(self, project: int, task_ids: Iterable[int]) -> list[int]:
        """Those of ``task_ids`` that are neither stored nor deleted."""
        out = []
        for task in task_ids:
            if not self._query("SELECT 1 FROM tasks WHERE project = ? AND task = ? UNION ALL "
                               "SELECT 1 FROM deleted_tasks WHERE project = ? AND task = ?",
                               (project, task, project, task)):
                out.append(task)
        return out

    # --------------------------------------------------------------- predictions
    def tasks_without_predictions(self, project: int, candidates: list[str],
                                  task_ids: Iterable[int] | None = None) -> list[int]:
        if not candidates:  # no candidate lacks: every task has all of none (and SQL has no empty IN list)
            return []
        marks = ",".join("?" * len(candidates))
        sql = (f"SELECT t.task FROM tasks t LEFT JOIN predictions p ON p.project = t.project AND p.task = t.task "
               f"AND p.candidate IN ({marks}) WHERE t.project = ? {{only}} GROUP BY t.task "
               f"HAVING COUNT(p.candidate) < ? ORDER BY t.task")
        if task_ids is None:
            return [int(r[0]) for r in self._query(sql.format(only=""), [*candidates, project, len(candidates)])]
        out = []
        for chunk, marks in in_lists(sorted(set(task_ids))):
            only = f"AND t.task IN ({marks})"
            out += [int(r[0]) for r in self._query(sql.format(only=only),
                                                   [*candidates, project, *chunk, len(candidates)])]
        return out

    def save_predictions(self, project: int, rows: Iterable[tuple[int, str, str]]) -> None:
        """One statement batch per call (a round trip per row made the first computation of a large project
        take hours on PostgreSQL); rows of tasks deleted meanwhile are left out."""
        rows = list(rows)
        with self.transaction():
            alive = self.stored_task_ids(project, {task for task, _, _ in rows})
            self._executemany(replace_sql("predictions"),
                              [(project, task, candidate, choice) for task, candidate, choice in rows if task in alive])
            self._bump(project, matrix=True)

    def save_prediction_errors(self, project: int, rows: Iterable[tuple[int, str, str]]) -> None:
        """Remember ``(task, candidate, error message)``: that candidate cannot predict that task's data.

        Kept until the task's data changes (:meth:`upsert_tasks`) or
        :meth:`clear_prediction_errors`; refreshes skip such tasks instead of failing on them.
        """
        rows = list(rows)
        with self.transaction():
            alive = self.stored_task_ids(project, {task for task, _, _ in rows})
            kept = [(project, task, candidate, error) for task, candidate, error in rows if task in alive]
            self._executemany(replace_sql("prediction_errors"), kept)
            if kept:  # the ranking leaves such tasks out
                self._bump(project)

    def clear_prediction_errors(self, project: int, task_ids: Iterable[int]) -> None:
        """Forget recorded failures of these tasks, so the next computation retries them."""
        with self.transaction():
            removed = 0
            for chunk, marks in in_lists(task_ids):
                removed += self._execute(f"DELETE FROM prediction_errors WHERE project = ? "
                                            f"AND task IN ({marks})", [project, *chunk]).rowcount
            if removed:
                self._bump(project)

    def prediction_errors(self, project: int, candidates: list[str] | None = None) -> list[dict]:
        """Recorded failures ``[{"task", "candidate", "error"}]`` (of ``candidates`` cache keys, or all), by task."""
        rows = self._query("SELECT task, candidate, error FROM prediction_errors WHERE project = ? "
                           "ORDER BY task, candidate", (project,))
        return [{"task": int(t), "candidate": c, "error": e} for t, c, e in rows
                if candidates is None or c in candidates]

    def packed_predictions(self, project: int, tasks_per_batch: int = 1000) -> Iterator[list[tuple[int, str]]]:
        """Every cached prediction of the project's stored tasks, ``tasks_per_batch`` tasks at a time: one
        ``(task, packed)`` row per task, ``packed`` its ``candidate<US>choice`` pairs joined by ``<RS>`` (ASCII
        unit and record separators, 31 and 30).

        One string per task, split in C, instead of a row object per answer: a 100,000-task project with 100
        candidates has 10,000,000 answers (see :func:`backend.belief.prediction_matrix`).  Each batch is one
        range read of the primary key's index.
        """
        ids = [int(r[0]) for r in self._query("SELECT task FROM tasks WHERE project = ? ORDER BY task", (project,))]
        pair = f"candidate || {self.UNIT_SEPARATOR} || choice"
        sql = (f"SELECT task, {self.JOIN_RECORDS.format(pair)} FROM predictions WHERE project = ? "
               f"AND task BETWEEN ? AND ? GROUP BY task")
        for i in range(0, len(ids), tasks_per_batch):
            last = ids[min(i + tasks_per_batch, len(ids)) - 1]
            rows = self._query(sql, (project, ids[i], last))
            if rows:
                yield rows

    def predictions(self, project: int, task_ids: Iterable[int] | None = None) -> dict[int, dict[str, str]]:
        out: dict[int, dict[str, str]] = {}
        if task_ids is None:
            rows = self._query("SELECT task, candidate, choice FROM predictions WHERE project = ?", (project,))
        else:
            rows = []
            for chunk, marks in in_lists(task_ids):
                rows += self._query(f"SELECT task, candidate, choice FROM predictions WHERE project = ? "
                                    f"AND task IN ({marks})", [project, *chunk])
        for task, candidate, choice in rows:
            out.setdefault(int(task), {})[candidate] = choice
        return out
