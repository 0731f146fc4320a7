"""What a load run with several backend processes and rq workers must show (issue 15), checked after it drained.

* :func:`refresh_audit` -- from the job records: refreshes that did work, none starting from the very state
  the previous one ended in (none run twice for the same labels), none overlapping in time for the project
  (one at a time across processes), the last one covering every label change counted (none lost), none
  failed.
* :func:`replay_ranking` -- the same labels replayed into one fresh backend process (SQLite, inline jobs, no
  write-back), and its ranking; :func:`compare_rankings` tells whether the two rankings agree.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from tests.support import real_stack as rs


def refresh_audit(jobs: list[dict], label_changes: int) -> dict:
    """``jobs``: the project's job records (``/jobs``); ``label_changes``: the store's count at the end."""
    refreshes = [j for j in jobs if j["kind"] == "refresh"]
    done = [j for j in refreshes if j["state"] == "finished" and j["result"]]
    worked = sorted((j for j in done if not j["result"].get("skipped")), key=lambda j: j["started_at"])
    covered = [int(j["result"]["label_changes"]) for j in worked]
    # redone: a refresh that started from exactly the state the previous one ended in (same labels, tasks,
    # predictions, config, pool and settings)
    redone = sum(1 for a, b in zip(worked, worked[1:]) if b["result"].get("started_from") == a["result"]["state_key"])
    spans = [(j["started_at"], j["finished_at"]) for j in worked]
    overlaps = sum(1 for (_, end), (start, _) in zip(spans, spans[1:]) if start < end)
    return {"refresh_jobs": len(refreshes), "worked": len(worked),
            "skipped_as_already_done": len(done) - len(worked),
            "failed": sum(j["state"] == "failed" for j in refreshes),
            "unfinished": sum(j["state"] in ("queued", "started") for j in refreshes),
            "run_twice_for_same_labels": redone,
            "same_label_count_twice": len(covered) - len(set(covered)),
            "per_refresh": [{"label_changes": c, "seconds": round(j["result"].get("seconds", {}).get("total", 0), 2),
                             "started_at": j["started_at"], "finished_at": j["finished_at"]}
                            for c, j in zip(covered, worked)],
            "overlapping": overlaps, "label_changes": label_changes,
            "last_covered": max(covered, default=0),
            "lost": int(max(covered, default=0) != label_changes)}


def replay_ranking(pool: Path, project: dict, queue: list[dict], bodies: list[dict], strategy: str) -> dict:
    """The /rankings answer of one fresh backend process fed the same project, queue and label webhooks.

    Payload mode (no Label Studio key: the webhook's annotation is Label Studio's own, as imported), inline jobs,
    write-back off, one refresh at the end instead of one per label: the belief depends on the labels, not on
    when they were refreshed.
    """
    from backend.app import create_app
    from backend.service import Service
    from backend.settings import from_env

    with tempfile.TemporaryDirectory(prefix="modelpicker-replay-") as tmp:
        settings = from_env({"MODEL_DIR": tmp, "MODELPICKER_POOL": str(pool), "MODELPICKER_STRATEGY": strategy,
                             "MODELPICKER_WRITEBACK": "false", "MODELPICKER_REFRESH_EVERY_LABELS": "1000000",
                             "MODELPICKER_REFRESH_MIN_SECONDS": "86400"})
        service = Service.from_settings(settings)
        client = create_app(settings, service).test_client()
        pid = int(project["id"])
        assert client.post("/setup", json={"project": f"{pid}.0", "schema": rs.CONFIG}).status_code == 200
        created = {"action": "TASKS_CREATED", "project": project, "tasks": queue}
        assert client.post("/webhook", json=created).status_code == 200
        for body in bodies:
            assert client.post("/webhook", json=body).status_code == 200
        service.refresh(pid, force=True)
        ranking = client.get(f"/rankings?project={pid}").get_json()
        service.store.close()
        return ranking


def compare_rankings(scaled: dict, single: dict) -> dict:
    """Whether the scaled-out backend's ranking equals the single process's: labels, version, every candidate's
    P(best), accuracy and bound, and the live decision (candidate, stop)."""
    def rows(r):
        return {c["name"]: (round(c["p_best"], 9), round(c["accuracy"], 9),
                            None if c.get("gap") is None else round(c["gap"], 9)) for c in r["candidates"]}
    same = {"labels": scaled["labels"] == single["labels"],
            "model_version": scaled["model_version"] == single["model_version"],
            "candidates": rows(scaled) == rows(single),
            "decision": (scaled["decision"]["candidate"], scaled["decision"]["stop"])
            == (single["decision"]["candidate"], single["decision"]["stop"])}
    return {"equal": all(same.values()), **same, "labels_scaled": scaled["labels"], "labels_single": single["labels"],
            "decision_scaled": scaled["decision"]["candidate"], "decision_single": single["decision"]["candidate"]}
