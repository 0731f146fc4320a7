"""How long the STOP takes to empty Label Studio's queue, and the reopening to fill it, on a large project.

Usage (from the repository root; Label Studio 1.23.2 in its own venv, see ``make ls-venv``)::

    flock /tmp/ls-e2e.lock .venv/bin/python benchmarks/stop_queue_scale.py --tasks 100000 --database postgres

Starts a throw-away Label Studio (its SQLite file, or ``--database postgres``: a PostgreSQL cluster of its
own), creates a text-classification project, imports ``--tasks`` tasks (10,000 a request), annotates
``--labels`` of them through the API and orders the queue as a refresh of the backend leaves it: the
``--push-top`` next tasks get priority predictions under a version the project follows (uncertainty
sampling, :func:`backend.label_studio_predictions.switch_queue`).  Label Studio's ``/next/`` looks only
through those tasks (or at random ones when there are none), so the requests answered while the STOP
runs stay short; with sequential sampling and no priorities each one would walk, locking them, through
every task left (all look taken while their overlap is 0 and their flag not yet recomputed), and at
10,000 tasks and more the STOP's flag update waits behind them for many minutes.

Then, with ``--annotators`` annotators each asking ``GET /next/``
``--probe-interval`` seconds after the previous answer meanwhile (closed loop,
:class:`benchmarks.backend_push.NextTaskProbe`: an annotator waits for a task before asking again), it runs the
backend's own :func:`backend.queue_stop.stop_queue` (the project's ``maximum_annotations`` to 0: one request)
and :func:`backend.queue_stop.reopen_queue` (the value back), and checks what ``/next/`` answers after each.
For comparison, the way the STOP worked before (one ``PATCH /api/tasks/{id}/`` per task, four at a time,
:meth:`backend.labelstudio_api.LabelStudioAPI.set_labeled`) is timed on ``--per-task-sample`` tasks; the
time for every task is that rate extrapolated (printed as such).  Results: ``--out`` (JSON).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from backend import queue_stop  # noqa: E402
from backend.label_studio_predictions import switch_queue  # noqa: E402
from backend.labelstudio_api import LabelStudioAPI  # noqa: E402
from benchmarks.backend_push import NextTaskProbe  # noqa: E402
from tests.support import labelstudio  # noqa: E402

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
          '<Choice value="a"/><Choice value="b"/></Choices></View>')
IMPORT_CHUNK = 10_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=50, help="tasks annotated before the STOP")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--push-top", type=int, default=100,
                        help="tasks given priority predictions (the backend's MODELPICKER_PUSH_LIMIT default)")
    parser.add_argument("--per-task-sample", type=int, default=200,
                        help="tasks flagged one request each, to time the earlier way (0: skip)")
    parser.add_argument("--probe-interval", type=float, default=0.25,
                        help="seconds an annotator waits after an answer before asking again")
    parser.add_argument("--annotators", type=int, default=4, help="annotators asking /next/ at the same time")
    parser.add_argument("--out", default=None,
                        help="JSON results (default benchmarks/results/stop_queue_scale_<database>_<tasks>.json)")
    args = parser.parse_args(argv)
    if args.tasks < 2 or not 0 <= args.labels < args.tasks or args.per_task_sample < 0 or args.annotators < 1 \
            or args.push_top < 0:
        parser.error("need --tasks >= 2, 0 <= --labels < --tasks, --per-task-sample and --push-top >= 0, "
                     "--annotators >= 1")
    if args.out is None:
        args.out = str(REPO_ROOT / "benchmarks" / "results" / f"stop_queue_scale_{args.database}_{args.tasks}.json")
    return args


def build_project(server, tasks: int, labels: int, push_top: int) -> tuple[int, list[int], float]:
    """A project with ``tasks`` tasks, ``labels`` of them annotated and the next ``push_top`` given priorities
    (the queue follows them); ``(project, task ids, import seconds)``."""
    project = server.api("POST", "/api/projects", json={"title": "stop at scale", "label_config": CONFIG})["id"]
    start = time.perf_counter()
    for first in range(0, tasks, IMPORT_CHUNK):
        chunk = [{"text": f"task {i}"} for i in range(first, min(tasks, first + IMPORT_CHUNK))]
        server.api("POST", f"/api/projects/{project}/import", json=chunk)
    seconds = time.perf_counter() - start
    ids = sorted(LabelStudioAPI(server.url, server.token, timeout=900).task_ids(project))
    for task in ids[:labels]:
        server.api("POST", f"/api/tasks/{task}/annotations", json={"result": [
            {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["a"]}}]})
    top = np.array(ids[labels:labels + push_top])
    if len(top):
        api = LabelStudioAPI(server.url, server.token, timeout=900)
        switch_queue(api, project, top, np.linspace(0.0, 1.0, len(top)), f"modelpicker-p{project}-n{labels}-bench")
    return project, ids, seconds


def next_status(server, project: int) -> int:
    return requests.get(f"{server.url}/api/projects/{project}/next/",
                        headers={"Authorization": f"Token {server.token}"}, timeout=120).status_code


def timed(server, project: int, interval: float, annotators: int, step) -> dict:
    """Run ``step()`` with ``annotators`` asking for the next task meanwhile; its answer, seconds, the probes.

    ``next_before`` is the annotators' latency in the ``4 * interval`` seconds (at least 2 s) before the step."""
    probes = [NextTaskProbe(server.url, server.token, project, interval, closed_loop=True) for _ in range(annotators)]
    for probe in probes:
        probe.start()
    warm_up = max(2.0, 4 * interval)
    time.sleep(warm_up)
    start = time.perf_counter()
    answer = step()
    window = (start, time.perf_counter())
    time.sleep(2 * interval)
    for probe in probes:
        probe.stop()
    merged = NextTaskProbe(server.url, server.token, project, interval)
    merged.results = [r for probe in probes for r in probe.results]
    during = [s for s, begun, _ in merged.results if window[0] <= begun <= window[1]]
    return {"answer": answer, "seconds": round(window[1] - start, 3),
            "next_during": {"requests": len(during), "served": during.count(200)},
            "next_latency": merged.summary(window), "next_before": merged.summary((start - warm_up, start))}


def per_task_rate(api: LabelStudioAPI, project: int, ids: list[int], sample: int) -> dict | None:
    """The earlier STOP: one PATCH per task (four at a time), timed on ``sample`` tasks, then undone."""
    if not sample:
        return None
    chosen = ids[-sample:]
    start = time.perf_counter()
    api.set_labeled(project, chosen, True)
    seconds = time.perf_counter() - start
    api.set_labeled(project, chosen, False)
    return {"tasks": sample, "seconds": round(seconds, 3), "tasks_per_second": round(sample / seconds, 1),
            "extrapolated_seconds_for_every_task": round(len(ids) / (sample / seconds), 1)}


def measure(server, args: argparse.Namespace) -> dict:
    api = LabelStudioAPI(server.url, server.token, timeout=900)
    project, ids, import_seconds = build_project(server, args.tasks, args.labels, args.push_top)
    before = next_status(server, project)
    stop = timed(server, project, args.probe_interval, args.annotators, lambda: queue_stop.stop_queue(api, project))
    after_stop = next_status(server, project)
    overlap = stop["answer"]["overlap"]
    reopen = timed(server, project, args.probe_interval, args.annotators,
                   lambda: queue_stop.reopen_queue(api, project, overlap, [], api.get_project(project)
                                                   .get("expert_instruction")))
    after_reopen = next_status(server, project)
    return {"benchmark": "stop_queue_scale", "label_studio": labelstudio.LS_VERSION, "database": args.database,
            "tasks": args.tasks, "labels": args.labels, "push_top": args.push_top, "annotators": args.annotators,
            "probe_interval": args.probe_interval, "machine": platform.platform(),
            "import_seconds": round(import_seconds, 1), "next_before_stop": before,
            "stop": {**stop, "answer": {k: v for k, v in stop["answer"].items() if k != "seconds"}},
            "next_after_stop": after_stop,
            "reopen": {**reopen, "answer": {k: v for k, v in reopen["answer"].items() if k != "seconds"}},
            "next_after_reopen": after_reopen,
            "per_task_flags": per_task_rate(api, project, ids, args.per_task_sample)}


@contextlib.contextmanager
def throw_away_label_studio(database: str):
    """A Label Studio of its own on ``database`` (``"sqlite"`` or ``"postgres"``: a throw-away cluster)."""
    if database == "postgres":
        with labelstudio.label_studio_on_postgres() as server:
            yield server
    else:
        with labelstudio.start_label_studio() as server:
            yield server


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with throw_away_label_studio(args.database) as server:
        result = measure(server, args)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    stop, reopen, flags = result["stop"], result["reopen"], result["per_task_flags"]
    print(f"{args.tasks} tasks on {args.database}: import {result['import_seconds']} s")
    print(f"STOP (maximum_annotations 0): {stop['seconds']} s, {stop['answer']['stopped_tasks']} tasks out; "
          f"/next/ before {result['next_before_stop']}, after {result['next_after_stop']}; "
          f"served while it ran {stop['next_during']['served']} of {stop['next_during']['requests']}; "
          f"{args.annotators} annotators' /next/ p99 {stop['next_before']['p99_seconds']} s before, "
          f"{stop['next_latency']['p99_seconds']} s during")
    print(f"reopen: {reopen['seconds']} s, {reopen['answer']['reopened_tasks']} tasks back; "
          f"/next/ after {result['next_after_reopen']}")
    if flags:
        print(f"earlier way, one PATCH per task: {flags['tasks_per_second']} tasks/s on {flags['tasks']} tasks, "
              f"so about {flags['extrapolated_seconds_for_every_task']} s for {args.tasks} (extrapolated)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
