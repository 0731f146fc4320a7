"""Time to rescore 10,000 tasks and re-order Label Studio's queue with them.

Starts a real Label Studio 1.23.2 on 127.0.0.1 (tests/support/labelstudio.py,
ports 18200-18299), creates a project with ``--tasks`` text tasks and runs two
refreshes the way the backend's re-prioritisation job does:

1. list the project's tasks (which are labelled);
2. rescore every unlabelled task with a core strategy over a seeded random
   ``(n_tasks, n_models)`` prediction matrix;
3. push the priorities in bulk under a new model version
   (``POST /api/projects/{id}/import/predictions``);
4. switch the project's ``model_version`` (uncertainty sampling);
5. delete the superseded priority version (only in the second refresh).

While the second refresh runs, a probe asks Label Studio for the next task
(``GET /api/projects/{id}/next/``, a write: it locks the task) every
``--probe-interval`` seconds, as an annotator's browser would, and counts the
requests that fail.  Prints a table and writes JSON (``--out``).

    .venv/bin/python benchmarks/backend_push.py            # 10,000 tasks, 8 candidates
    .venv/bin/python benchmarks/backend_push.py --push-top 1000 --out benchmarks/results/backend_push_top1000.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests

REPO_ROOT = Path(__file__).resolve().parents[1]

from backend.belief import priorities
from backend.label_studio_predictions import delete_superseded, switch_queue
from backend.labelstudio_api import LabelStudioAPI
from modelpicker_core import registry
from tests.support import labelstudio

LS_PORTS = (18200, 18300)
#: Label Studio feature flag (env variable) for its batched prediction import
EFFICIENT_IMPORT_FLAG = "fflag_fix_back_4620_memory_efficient_predictions_import_08012025_short"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks in the project (default 10000)")
    parser.add_argument("--models", type=int, default=8, help="candidate models (default 8)")
    parser.add_argument("--classes", type=int, default=3, help="classes (default 3)")
    parser.add_argument("--strategy", default="modelpicker", help="core strategy (default modelpicker)")
    parser.add_argument("--labels", type=int, default=20,
                        help="labels observed (and annotated in Label Studio) before the second refresh")
    parser.add_argument("--push-top", type=int, default=0,
                        help="push priorities for only the N most informative tasks (0 = all, the default)")
    parser.add_argument("--chunk-size", type=int, default=5000, help="predictions per import request")
    parser.add_argument("--efficient-import", action="store_true",
                        help=f"start Label Studio with {EFFICIENT_IMPORT_FLAG}=true")
    parser.add_argument("--work-dir", default=None,
                        help="Label Studio data dir (default: a temporary dir, in RAM when /dev/shm is writable)")
    parser.add_argument("--probe-interval", type=float, default=1.0, help="seconds between probe requests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "backend_push.json"))
    args = parser.parse_args(argv)
    for name in ("tasks", "models", "classes", "chunk_size"):
        if getattr(args, name) < (2 if name in ("models", "classes") else 1):
            parser.error(f"--{name.replace('_', '-')} is too small: {getattr(args, name)}")
    if not 0 <= args.labels < args.tasks:
        parser.error(f"--labels must be in [0, --tasks), got {args.labels}")
    if args.push_top < 0:
        parser.error("--push-top must be >= 0")
    if args.strategy not in registry.available():
        parser.error(f"unknown --strategy {args.strategy!r}; available: {', '.join(registry.available())}")
    return args


class NextTaskProbe(threading.Thread):
    """Asks for the next task every ``interval`` seconds; records failures and latencies."""

    def __init__(self, url: str, token: str, project: int, interval: float):
        super().__init__(daemon=True)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.address = f"{url}/api/projects/{project}/next/"
        self.interval = interval
        self.stop_event = threading.Event()
        self.results: list[tuple[int | None, float]] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            start = time.perf_counter()
            try:
                status = self.session.get(self.address, timeout=60).status_code
            except requests.RequestException:
                status = None
            self.results.append((status, time.perf_counter() - start))
            self.stop_event.wait(self.interval)

    def summary(self) -> dict:
        failed = [s for s, _ in self.results if s != 200]
        latencies = [t for _, t in self.results]
        return {"requests": len(self.results), "failed": len(failed),
                "failed_statuses": sorted({str(s) for s in failed}),
                "max_seconds": round(max(latencies), 3) if latencies else None}


def refresh(api: LabelStudioAPI, project: int, strategy, predictions: np.ndarray, task_ids: np.ndarray,
            version: int, push_top: int) -> dict:
    """One re-prioritisation with the backend's own refresh steps (:mod:`backend.label_studio_predictions`):
    list tasks, rescore the unlabelled ones, push, switch, delete the superseded version."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    labelled = api.task_ids(project)
    timings["list_tasks"] = time.perf_counter() - start
    unlabelled = np.array([not labelled[int(t)] for t in task_ids])
    start = time.perf_counter()
    informativeness = strategy.score(predictions[unlabelled])
    ids = task_ids[unlabelled]
    if push_top:
        keep = np.argsort(-informativeness, kind="stable")[:push_top]
        ids, informativeness = ids[keep], informativeness[keep]
    timings["rescore"] = time.perf_counter() - start
    name = f"modelpicker-p{project}-bench{version}"
    switched = switch_queue(api, project, ids, priorities(informativeness, np.zeros(len(ids), bool)), name)
    timings.update(switched["seconds"])
    removed = delete_superseded(api, project, name)
    timings.update(removed["seconds"])
    report = {"model_version": name, "pushed": switched["pushed"], "deleted": removed["deleted"]}
    timings["total"] = sum(timings.values())
    return {"version": report["model_version"], "unlabelled": int(unlabelled.sum()), "pushed": report["pushed"],
            "deleted": report["deleted"], "seconds": {k: round(v, 3) for k, v in timings.items()}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    predictions = rng.integers(0, args.classes, size=(args.tasks, args.models))
    truth = rng.integers(0, args.classes, size=args.tasks)
    extra_env = {EFFICIENT_IMPORT_FLAG: "true"} if args.efficient_import else {}
    print(f"starting Label Studio {labelstudio.LS_VERSION} ...", flush=True)
    with labelstudio.start_label_studio(port_range=LS_PORTS, work_dir=args.work_dir,
                                        extra_env=extra_env) as server:
        data_dir = str(server.data_dir or args.work_dir)
        api = LabelStudioAPI(server.url, server.token, timeout=900, chunk_size=args.chunk_size)
        choices = "".join(f'<Choice value="c{k}"/>' for k in range(args.classes))
        config = (f'<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
                  f'{choices}</Choices></View>')
        project = api.create_project("backend push benchmark", config)["id"]
        start = time.perf_counter()
        api.import_tasks(project, [{"text": f"item {i}"} for i in range(args.tasks)])
        import_seconds = time.perf_counter() - start
        task_ids = np.array(list(api.task_ids(project)))
        strategy = registry.make(args.strategy, args.models, args.classes, random_state=args.seed)

        print("refresh 1 (nothing to delete) ...", flush=True)
        first = refresh(api, project, strategy, predictions, task_ids, 1, args.push_top)

        for row in rng.choice(args.tasks, size=args.labels, replace=False):
            strategy.observe(predictions[row], int(truth[row]))
            server.api("POST", f"/api/tasks/{int(task_ids[row])}/annotations/", json={"result": [
                {"from_name": "label", "to_name": "text", "type": "choices",
                 "value": {"choices": [f"c{int(truth[row])}"]}}]})

        print("refresh 2 (deletes refresh 1's priorities), probing the queue meanwhile ...", flush=True)
        probe = NextTaskProbe(server.url, server.token, project, args.probe_interval)
        probe.start()
        second = refresh(api, project, strategy, predictions, task_ids, 2, args.push_top)
        probe.stop_event.set()
        probe.join()

    result = {
        "benchmark": "backend_push",
        "label_studio": labelstudio.LS_VERSION,
        "database": "sqlite",
        "data_dir": data_dir,
        "data_dir_in_ram": data_dir.startswith("/dev/shm"),
        "efficient_import_flag": args.efficient_import,
        "tasks": args.tasks, "models": args.models, "classes": args.classes, "strategy": args.strategy,
        "push_top": args.push_top or None, "chunk_size": args.chunk_size, "labels": args.labels,
        "seed": args.seed,
        "import_tasks_seconds": round(import_seconds, 3),
        "refreshes": [first, second],
        "probe_during_refresh_2": probe.summary(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    phases = ["list_tasks", "rescore", "push", "switch", "delete", "total"]
    print(f"\n{args.tasks} tasks, {args.models} candidates, strategy {args.strategy}, "
          f"Label Studio {labelstudio.LS_VERSION} on SQLite ({'RAM' if result['data_dir_in_ram'] else 'disk'})"
          f"{', efficient import flag' if args.efficient_import else ''}")
    print(f"{'refresh':<8}{'pushed':>8}{'deleted':>9}" + "".join(f"{p:>12}" for p in phases) + "   (seconds)")
    for number, run in enumerate([first, second], start=1):
        print(f"{number:<8}{run['pushed']:>8}{run['deleted']:>9}"
              + "".join(f"{run['seconds'][p]:>12.3f}" for p in phases))
    summary = result["probe_during_refresh_2"]
    print(f"next-task probe during refresh 2: {summary['failed']} of {summary['requests']} requests failed "
          f"{summary['failed_statuses']}, slowest {summary['max_seconds']} s")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
