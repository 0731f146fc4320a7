"""Export of a round's decision: what a team deploys until the next batch arrives.

Four files (``python -m backend export --project ID --out DIR`` or ``GET /export?project=ID``):

``decision.json``
    the chosen candidate, its entry of the pool file, and the evidence:
    P(best), labels, the ranking, the stopping rule's reason and settings,
    ``decided_at``.  ``"stopped": false`` marks a provisional pick (the round
    was not decided yet; the current best is exported).
``ranking.csv``, ``ranking.json``
    one row per candidate, best first: rank, name, P(best), accuracy with its
    95% interval, labels.
``predictions.json``
    the chosen candidate's answer for every task of the project, in Label
    Studio's task import format (``[{"id", "data", "predictions": [{"model_version",
    "result"}]}]``): import it into a project as pre-annotations, or read it downstream.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml

from .errors import RequestError
from .inputs import parse_int
from .label_studio_predictions import choice_result
from .pool import PredictionError
from .redact import redact, redact_text
from .timefmt import iso

FILES = ("decision.json", "ranking.csv", "ranking.json", "predictions.json")
RANKING_COLUMNS = ("rank", "name", "p_best", "gap", "accuracy", "accuracy_low", "accuracy_high", "labels")


def pool_entry(pool_path: Path, name: str) -> dict | None:
    """The candidate's entry as written in the pool YAML file, secrets redacted (None if it cannot be read back).

    HTTP ``headers`` values, tokens, passwords and credentials in URLs are
    replaced by :func:`backend.redact.redact`: ``decision.json`` and
    ``GET /export`` show which headers a source sends, never their values.
    """
    try:
        document = yaml.safe_load(Path(pool_path).read_text())
    except (OSError, yaml.YAMLError):
        return None
    for entry in (document or {}).get("candidates", []) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return redact(entry)
    return None


def build_export(service: Any, project: int, round_raw: Any = None) -> dict[str, Any]:
    """Everything the export files hold: ``{"decision", "ranking", "predictions"}``.

    Raises :class:`RequestError` (400 bad parameter, 404 unknown project or
    round, 409 a past round that was never decided, 422 a candidate that fails
    as a whole).  Tasks a candidate cannot
    predict are left out and listed in ``decision["tasks_without_predictions"]``.
    """
    service.require_known(project)
    pool = service.require_pool()
    round_ = _export_round(service, project, round_raw)
    chosen, ranking, decision = _round_decision(service, project, round_, pool)
    decision.pop("ranking", None)
    try:
        service.compute_predictions(project)  # tasks a candidate cannot predict are recorded, not raised
    except PredictionError as exc:  # a candidate failing as a whole (e.g. its model server is down)
        raise RequestError(422, redact_text(str(exc))) from None
    predictions = chosen_predictions(service, project, pool, chosen)
    return {
        "decision": {"project": project, "round": round_, "chosen": chosen,
                     "pool_entry": pool_entry(pool.path, chosen), "pool_file": str(pool.path),
                     "exported_at": iso(service.clock()), "evidence": {**decision, "ranking": ranking},
                     "stopped": decision["stopped"], "decided_at": decision["decided_at"],
                     "tasks_without_predictions": service.task_prediction_errors(project)},
        "ranking": ranking,
        "predictions": predictions,
    }


def _export_round(service: Any, project: int, round_raw: Any) -> int:
    """The round asked for (default: the current one); 404 for a round not started yet."""
    current = service.store.current_round(project)
    if round_raw in (None, ""):
        return current
    round_ = parse_int(round_raw, "round", 1, 10**9)
    if round_ > current:
        raise RequestError(404, f"project {project} has no round {round_} (current round: {current})")
    return round_


def _round_decision(service: Any, project: int, round_: int, pool) -> tuple[str, list[dict], dict]:
    """``(chosen, ranking, decision)``: the recorded stop of the round, or the current round's live pick;
    409 for a past round that was never decided."""
    history = service.store.decisions(project, round_)
    last = history[-1] if history else None
    if last is not None and last["state"] == "stop":
        evidence = last["evidence"]
        decision = {"stopped": True, "state": "stop", "p_best": last["p_best"],
                    "labels": last["labels"], "reason": last["reason"], "decided_at": iso(last["decided_at"]),
                    **evidence}
        return last["candidate"], evidence["ranking"], decision
    if round_ != service.store.current_round(project):
        raise RequestError(409, f"round {round_} of project {project} was never decided; nothing to export")
    from .belief import ranking_records

    belief = service.belief(project)
    live = service.live_decision(project, belief)
    ranking = ranking_records(belief, pool.names)
    decision = {"stopped": False, "state": "open" if last is None else last["state"],
                "p_best": live.p_best, "p_top": live.p_top, "gap": live.gap, "labels": live.labels,
                "reason": live.reason, "reason_text": live.reason_text, "decided_at": None, "rule": live.rule,
                "epsilon": live.epsilon, "delta": live.delta, "confidence": live.confidence,
                "budget": live.budget, "model_version": belief.model_version, "strategy": service.strategy,
                "ranking": ranking}
    return live.candidate, ranking, decision


def chosen_predictions(service: Any, project: int, pool, chosen: str) -> list[dict]:
    """The chosen candidate's answer for every task of the project, in Label Studio's task import format."""
    choices = service.project_choices(project)
    key = pool.candidates[pool.names.index(chosen)].cache_key
    answers = service.store.predictions(project)
    data = service.store.task_data(project, sorted(answers))
    return [{"id": task, "data": data[task],
             "predictions": [{"model_version": chosen,
                              "result": choice_result(choices.name, choices.to_name, answers[task][key])}]}
            for task in sorted(answers) if key in answers[task] and task in data]


def ranking_csv(ranking: list[dict]) -> str:
    """The ranking as CSV text with :data:`RANKING_COLUMNS`."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RANKING_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(ranking)
    return out.getvalue()


def export_files(bundle: dict[str, Any]) -> dict[str, str]:
    """File name -> text of the four export files."""
    return {
        "decision.json": json.dumps(bundle["decision"], indent=2) + "\n",
        "ranking.csv": ranking_csv(bundle["ranking"]),
        "ranking.json": json.dumps(bundle["ranking"], indent=2) + "\n",
        "predictions.json": json.dumps(bundle["predictions"]) + "\n",
    }


def write_export(bundle: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the four files into ``out_dir`` (created if missing); returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in export_files(bundle).items():
        path = out_dir / name
        path.write_text(text)
        paths.append(path)
    return paths
