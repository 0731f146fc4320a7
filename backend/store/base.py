""":class:`Store`: every method the backend calls on its state store, per project."""
from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..records import AnnotationVersion, Label


class Store(abc.ABC):
    """What the service and the jobs need from a state store; every method is per project.

    :class:`~backend.store.SQLiteStore` and :class:`~backend.store.PostgresStore`
    implement it, with one copy of the SQL (:mod:`backend.store.tables`).
    """

    # ----------------------------------------------------------------- plumbing
    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager:
        """A context that groups several writes so they commit together or not at all (nestable)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store's connection; returns nothing."""

    @abc.abstractmethod
    def check(self) -> tuple[bool, str | None]:
        """``(usable, error message)``."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the state lives, for /health (no password)."""

    @abc.abstractmethod
    def schema_revision(self) -> str | None:
        """The alembic revision of the store's schema (see :mod:`backend.store.migrate`)."""

    # ----------------------------------------------------------------- projects
    @abc.abstractmethod
    def get_label_config(self, project: int) -> str | None:
        """The last label config seen for the project; None for an unknown project."""

    @abc.abstractmethod
    def set_label_config(self, project: int, label_config: str) -> None:
        """Store the project's label config (a change forgets recorded prediction failures); returns nothing."""

    @abc.abstractmethod
    def projects(self) -> dict[int, str]:
        """Every project with a stored label config: ``project -> label config``."""

    @abc.abstractmethod
    def revision(self, project: int) -> int:
        """A counter that grows with every change of the project's state."""

    @abc.abstractmethod
    def matrix_revision(self, project: int) -> int:
        """A counter that grows with every change of the project's tasks or cached predictions."""

    # -------------------------------------------------------------------- tasks
    @abc.abstractmethod
    def upsert_tasks(self, project: int, tasks: Iterable[tuple[int, dict]]) -> list[int]:
        """Store task data; returns the ids stored (deleted tasks are refused)."""

    @abc.abstractmethod
    def delete_tasks(self, project: int, task_ids: Iterable[int]) -> None:
        """Remove tasks, their predictions and labels, and remember them as deleted; returns nothing."""

    @abc.abstractmethod
    def task_data(self, project: int, task_ids: Iterable[int]) -> dict[int, dict]:
        """``task -> data`` of the stored tasks among ``task_ids``."""

    @abc.abstractmethod
    def task_count(self, project: int) -> int:
        """How many tasks of ``project`` the store holds."""

    @abc.abstractmethod
    def task_ids(self, project: int) -> list[int]:
        """Every task of ``project`` the store holds, in id order."""

    @abc.abstractmethod
    def stored_task_ids(self, project: int, task_ids: Iterable[int]) -> set[int]:
        """Those of ``task_ids`` the store holds."""

    @abc.abstractmethod
    def new_task_ids(self, project: int, task_ids: Iterable[int]) -> list[int]:
        """Those of ``task_ids`` that are neither stored nor deleted, in the given order."""

    # -------------------------------------------------------------- predictions
    @abc.abstractmethod
    def tasks_without_predictions(self, project: int, candidates: list[str],
                                  task_ids: Iterable[int] | None = None) -> list[int]:
        """Stored tasks (of ``task_ids``, or all) lacking a cached prediction of at least one candidate."""

    @abc.abstractmethod
    def save_predictions(self, project: int, rows: Iterable[tuple[int, str, str]]) -> None:
        """Cache ``(task, candidate, choice)`` rows of stored tasks; returns nothing."""

    @abc.abstractmethod
    def predictions(self, project: int, task_ids: Iterable[int] | None = None) -> dict[int, dict[str, str]]:
        """``task -> candidate -> Choice value`` for the cached predictions (of ``task_ids``, or all)."""

    @abc.abstractmethod
    def packed_predictions(self, project: int, tasks_per_batch: int = 1000) -> Iterator[list[tuple[int, str]]]:
        """Every cached prediction, ``(task, "cand<US>choice<RS>cand<US>choice...")`` per task,
        ``tasks_per_batch`` tasks at a time."""

    @abc.abstractmethod
    def save_prediction_errors(self, project: int, rows: Iterable[tuple[int, str, str]]) -> None:
        """Remember ``(task, candidate, error message)`` rows until the task's data changes; returns nothing."""

    @abc.abstractmethod
    def clear_prediction_errors(self, project: int, task_ids: Iterable[int]) -> None:
        """Forget recorded failures of these tasks, so the next computation retries them; returns nothing."""

    @abc.abstractmethod
    def prediction_errors(self, project: int, candidates: list[str] | None = None) -> list[dict]:
        """Recorded failures ``[{"task", "candidate", "error"}]`` (of ``candidates`` cache keys, or all), by task."""

    # ------------------------------------------------------------------- labels
    @abc.abstractmethod
    def apply_annotations(self, project: int, versions: Iterable[AnnotationVersion]) -> int:
        """Store annotation states (see :mod:`backend.store`); returns how many changed."""

    @abc.abstractmethod
    def delete_annotations(self, project: int, annotation_ids: Iterable[int]) -> int:
        """Remove annotations and remember them as deleted; returns how many were stored."""

    @abc.abstractmethod
    def labels(self, project: int) -> list[Label]:
        """Every stored label (annotations with a Choice), by annotation id."""

    @abc.abstractmethod
    def tasks_of_annotations(self, project: int, annotation_ids: Iterable[int]) -> set[int]:
        """Tasks of the stored annotations among ``annotation_ids``."""

    @abc.abstractmethod
    def tasks_with_annotations(self, project: int) -> set[int]:
        """Tasks that have at least one stored annotation."""

    # ------------------------------------------------------ confirmation mode
    @abc.abstractmethod
    def add_hint(self, project: int, action: str, tasks: Iterable[int], annotations: Iterable[int],
                 config: bool, now: float) -> int:
        """Record (and commit) that a webhook named these tasks/annotations; returns the hint id."""

    @abc.abstractmethod
    def pending_hints(self, project: int, limit: int | None = None) -> list[dict]:
        """The project's unconfirmed hints, oldest first (``{"id", "action", "tasks", "annotations", ...}``)."""

    @abc.abstractmethod
    def pending_count(self, project: int | None = None) -> int:
        """How many hints wait for confirmation (of one project, or of all)."""

    @abc.abstractmethod
    def hint_projects(self) -> list[int]:
        """Projects with pending hints, sorted."""

    @abc.abstractmethod
    def remove_hints(self, ids: Iterable[int]) -> None:
        """Forget confirmed hints; returns nothing."""

    @abc.abstractmethod
    def mirror_tasks(self, project: int, present: dict[int, tuple[dict, list[AnnotationVersion]]],
                     gone: Iterable[int], read_at: float, tombstones: bool = False) -> dict:
        """Make the stored tasks equal to Label Studio's answer; returns ``{"changed", "removed", ...}`` counts."""

    # ------------------------------------------------------ rounds and decisions
    @abc.abstractmethod
    def current_round(self, project: int) -> int:
        """The project's current round (1 until a second round is started)."""

    @abc.abstractmethod
    def start_round(self, project: int, reason: str, now: float) -> int:
        """Open the next round (tasks stored from now on belong to it); returns its number."""

    @abc.abstractmethod
    def rounds(self, project: int) -> list[dict]:
        """``[{"round", "started_at", "reason"}]`` of every started round, oldest first (round 1 implied)."""

    @abc.abstractmethod
    def round_tasks(self, project: int, round_: int) -> list[int]:
        """Ids of the stored tasks of one round, sorted."""

    @abc.abstractmethod
    def record_draw_rule(self, project: int, round_: int, rule: str, now: float) -> str:
        """Keep ``rule`` as the draw rule of the round's queue unless one is kept already; returns the kept one."""

    @abc.abstractmethod
    def draw_rule(self, project: int, round_: int) -> str | None:
        """The draw rule kept for the round's queue (None: the round pushed no queue yet)."""

    @abc.abstractmethod
    def add_decision(self, project: int, round_: int, record: dict) -> dict:
        """Append a decision record to the round's history; returns it with its ``round`` and ``seq``."""

    @abc.abstractmethod
    def decisions(self, project: int, round_: int | None = None) -> list[dict]:
        """Decision records of the project (or one round), oldest first."""

    # --------------------------------------------------------------------- jobs
    @abc.abstractmethod
    def add_job(self, job_id: str, project: int | None, kind: str, now: float, run_after: float | None = None) -> None:
        """Record a queued job; returns nothing."""

    @abc.abstractmethod
    def update_job(self, job_id: str, now: float, state: str | None = None, progress: float | None = None,
                   message: str | None = None, result: Any = None) -> None:
        """Move a job on (state, progress, message, result); returns nothing."""

    @abc.abstractmethod
    def jobs(self, project: int, limit: int = 50) -> list[dict]:
        """The project's latest ``limit`` job records, newest first."""

    @abc.abstractmethod
    def waiting_job(self, project: int, kind: str, since: float) -> str | None:
        """Id of a job of ``kind`` queued since ``since``, known to be on the job queue and not started, or None."""

    @abc.abstractmethod
    def jobs_in_flight(self, project: int, since: float) -> int:
        """How many of the project's jobs created at or after ``since`` are queued or started."""

    @abc.abstractmethod
    def mark_enqueued(self, job_id: str, now: float) -> None:
        """Record that the job is on the job queue; returns nothing."""

    @abc.abstractmethod
    def unattended_hint_projects(self, older_than: float, kind: str = "confirm") -> list[int]:
        """Projects with a hint received before ``older_than`` and no job of ``kind`` queued or started since."""

    # ------------------------------------------------------------ refresh state
    @abc.abstractmethod
    def count_label_changes(self, project: int, n: int) -> None:
        """Add ``n`` label changes to the project's counter; returns nothing."""

    @abc.abstractmethod
    def refresh_state(self, project: int) -> dict:
        """``{"label_changes", "changes_at_refresh", "last_refresh_at", "pushed_version"}``."""

    @abc.abstractmethod
    def mark_refresh_started(self, project: int, now: float) -> int:
        """Note that a refresh starts reading the labels now; returns the label-change count it covers."""

    @abc.abstractmethod
    def set_pushed_version(self, project: int, version: str | None) -> None:
        """Remember the priority version Label Studio's queue follows; returns nothing."""

    @abc.abstractmethod
    def tasks_without_candidate_push(self, project: int) -> list[int]:
        """Stored tasks whose candidates' predictions were not yet written to Label Studio, sorted."""

    @abc.abstractmethod
    def mark_candidates_pushed(self, project: int, task_ids: Iterable[int]) -> None:
        """Remember that these tasks' candidate predictions were written to Label Studio; returns nothing."""

    # -------------------------------------------------------- ranking snapshots
    @abc.abstractmethod
    def put_ranking_snapshot(self, project: int, key: str, revision: int, body: dict, now: float) -> None:
        """Keep the /rankings answer of ``revision`` under ``key`` (never over a newer one); returns nothing."""

    @abc.abstractmethod
    def ranking_snapshot(self, project: int, key: str) -> dict | None:
        """``{"revision", "body", "computed_at"}`` of the project's kept ranking under ``key``, or None."""

    # ----------------------------------------------------------- belief history
    @abc.abstractmethod
    def add_belief_history(self, project: int, round_: int, labels: int, candidates: Sequence[str],
                           p_best: Iterable[float], gap: Iterable[float] | None, now: float) -> bool:
        """Record the round's P(best) and certified bound per candidate after a refresh (``labels``: labelled
        tasks the ranking uses); returns False when the round's latest record is the same."""

    @abc.abstractmethod
    def belief_history(self, project: int, round_: int) -> list[dict]:
        """``[{"seq", "labels", "candidates", "p_best", "gap", "recorded_at"}]`` of the round, oldest first."""

    # ------------------------------------------------------------- periodic sync
    @abc.abstractmethod
    def claim_sync(self, project: int, now: float, period: float) -> bool:
        """True when no process claimed ``project``'s periodic sync within ``period`` s; the claim is this one's."""

    @abc.abstractmethod
    def task_listed_at(self, project: int) -> float | None:
        """When any process last listed every task of ``project`` from Label Studio (None: never)."""

    @abc.abstractmethod
    def record_task_listing(self, project: int, now: float) -> None:
        """Keep that every task of ``project`` was listed at ``now``."""

    @abc.abstractmethod
    def record_sync(self, project: int, now: float, caught_up: int, error: str | None) -> None:
        """Keep one periodic sync's outcome: annotations it ``caught_up`` (webhooks missed them) or its ``error``."""

    @abc.abstractmethod
    def sync_log(self) -> dict[int, dict]:
        """``{project: {"at", "caught_up", "error", "last_caught_up_at", "total_caught_up"}}``, the last sync each."""

    # ------------------------------------------------------------- Label Studio
    @abc.abstractmethod
    def label_studio_status(self) -> dict | None:
        """``{"kind", "message", "since", "last_ok_at"}`` of the backend's last call to Label Studio, or None."""

    @abc.abstractmethod
    def set_label_studio_status(self, kind: str, message: str | None, now: float) -> dict | None:
        """Record the outcome of a call (``kind`` ``"ok"`` or a failure kind); ``since`` changes with the kind.

        Returns the status it replaced, read in the same write transaction, so
        of two processes recording the same new failure only one sees it new."""
