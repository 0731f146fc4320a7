"""The pool's models: :class:`Candidate` (a source and its map to Choice values) and :class:`Pool` (all of them)."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from ..labelconfig import ChoicesControl
from .errors import PoolError, PredictionError, SourceError
from .sources import Source, output_key


@dataclasses.dataclass
class Candidate:
    """One model of the pool.

    Attributes
    ----------
    name : unique name, shown in the ranking.
    source : where its outputs come from.
    labels : raw output (as :func:`output_key`) -> Choice value; None means
        the outputs already are Choice values.
    cache_key : ``<name>@<hash>`` naming the cached predictions; the hash
        covers the candidate's YAML entry and the bytes of its predictions or
        model file, so editing either makes the backend predict afresh.
    """

    name: str
    source: Source
    labels: dict[str, str] | None = None
    cache_key: str = ""

    def choice_for(self, output: Any, task_id: Any, choices: ChoicesControl) -> str:
        """The Choice value of one raw output; :class:`PredictionError` if there is none."""
        key = output_key(output)
        value = key if self.labels is None else self.labels.get(key)
        if value is None:
            raise PredictionError(f"candidate {self.name!r}: task {task_id}: output {key!r} is not in its labels map")
        if value not in choices:
            raise PredictionError(f"candidate {self.name!r}: task {task_id}: output {key!r} maps to {value!r}, "
                                  f"which is not a Choice of {choices.name!r}")
        return choices.canonical(value)

    def predict_tasks(self, tasks: list[dict], choices: ChoicesControl) -> list[str]:
        """Choice values ``(n_tasks,)`` for Label Studio tasks ``{"id", "data"}``."""
        values = []
        for task in tasks:
            data = task.get("data") or {}
            if self.source.field not in data:
                raise PredictionError(f"candidate {self.name!r}: task {task.get('id')}: "
                                      f"task data has no field {self.source.field!r}")
            values.append(data[self.source.field])
        try:
            outputs = self.source.predict(values)
        except SourceError as exc:
            where = f"task {tasks[exc.index].get('id')}: " if exc.index is not None else \
                f"tasks {[t.get('id') for t in tasks][:10]}: "
            raise PredictionError(f"candidate {self.name!r}: {where}{exc}") from None
        return [self.choice_for(out, task.get("id"), choices) for out, task in zip(outputs, tasks)]


@dataclasses.dataclass
class Pool:
    """The candidates, in file order (column ``j`` of the prediction matrix is ``candidates[j]``).

    Attributes
    ----------
    path : the YAML file.
    candidates : the models.
    unavailable : ``mlflow`` candidates the registry could not give when the pool loaded,
        ``{"candidate", "source", "error"}`` each (shown in ``/health``); the pool works without them.
    """

    path: Path
    candidates: list[Candidate]
    unavailable: list[dict] = dataclasses.field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.candidates]

    @property
    def cache_keys(self) -> list[str]:
        return [c.cache_key for c in self.candidates]

    @property
    def fingerprint(self) -> str:
        """Short hash of every candidate's cache key; part of the priority version."""
        return hashlib.sha256("|".join(self.cache_keys).encode()).hexdigest()[:12]

    def check(self, choices: ChoicesControl) -> None:
        """Check every mapped and every known output against the project's Choices.

        Raises :class:`PoolError` listing each candidate/field that does not fit.
        """
        errors = []
        shown = ", ".join(repr(v) for v in choices.values)
        for cand in self.candidates:
            for out, value in (cand.labels or {}).items():
                if value not in choices:
                    errors.append(f"candidate {cand.name!r}: labels[{out!r}]: {value!r} is not a Choice of "
                                  f"{choices.name!r} (Choices: {shown})")
            known = cand.source.known_outputs()
            for out in sorted(known or ()):
                if cand.labels is not None and out not in cand.labels:
                    errors.append(f"candidate {cand.name!r}: labels: the model can output {out!r}, "
                                  f"which the map does not cover")
                elif cand.labels is None and out not in choices:
                    errors.append(f"candidate {cand.name!r}: labels: output {out!r} is not a Choice of "
                                  f"{choices.name!r} and there is no labels map (Choices: {shown})")
        if errors:
            raise PoolError(errors)
