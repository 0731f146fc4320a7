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
``--probe-interval`` seconds, as a team of annotators' browsers would: each request
starts on schedule, whether or not the earlier ones were answered (open loop;
``--probe-closed-loop``: one annotator who waits for each answer before asking
again, the probe of the first measurement), and its start, end and status are
recorded.  The requests that overlap the clean-up (step 5) are summarised apart:
how many, how many failed (not 200, or no answer within 60 s), their latency
p50 / p99.  Prints a table and writes JSON (``--out``).

``--database sqlite`` (the default) runs Label Studio on its SQLite file (in RAM
when ``/dev/shm`` is writable); ``--database postgres`` on a throw-away
PostgreSQL cluster on 127.0.0.1 (``tests/support/postgres_server.py``: fsync off,
data directory under the system's temporary directory) with Label Studio's own
settings ``DJANGO_DB=default`` and ``POSTGRE_*`` (``tests/support/labelstudio.py``).

    flock /tmp/ls-e2e.lock .venv/bin/python benchmarks/backend_push.py            # 10,000 tasks, 8 candidates
    flock /tmp/ls-e2e.lock .venv/bin/python benchmarks/backend_push.py --database postgres
    .venv/bin/python benchmarks/backend_push.py --push-top 1000 --out benchmarks/results/backend_push_top1000.json
"""
from __future__ import annotations

import argparse
import contextlib
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
if str(REPO_ROOT) not in sys.path:  # `python benchmarks/backend_push.py` finds tests.support as -m does
    sys.path.insert(0, str(REPO_ROOT))

from backend.belief import priorities
from backend.label_studio_predictions import delete_superseded, switch_queue
from backend.labelstudio_api import LabelStudioAPI
from modelpicker_core import registry
from tests.support import labelstudio

LS_PORTS = (18200, 18300)
#: the PostgreSQL cluster of ``--database postgres``
PG_PORTS = (15500, 15600)
DATABASES = ("sqlite", "postgres")
#: Label Studio feature flag (env variable) for its batched prediction import
EFFICIENT_IMPORT_FLAG, = labelstudio.EFFICIENT_PREDICTION_IMPORT


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
    parser.add_argument("--probe-closed-loop", action="store_true",
                        help="wait for each probe answer before the next request (one annotator); default: "
                             "a request every --probe-interval seconds whatever the earlier ones do")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the prediction matrix, the true labels, the labelled tasks and the strategy")
    parser.add_argument("--database", choices=DATABASES, default="sqlite",
                        help="Label Studio's database: its SQLite file (default) or a throw-away PostgreSQL cluster")
    parser.add_argument("--out", default=None,
                        help="JSON results (default benchmarks/results/backend_push.json, "
                             "backend_push_postgres.json with --database postgres)")
    args = parser.parse_args(argv)
    if args.out is None:
        name = "backend_push.json" if args.database == "sqlite" else "backend_push_postgres.json"
        args.out = str(REPO_ROOT / "benchmarks" / "results" / name)
    if args.database == "postgres" and args.work_dir:
        parser.error("--work-dir is for --database sqlite (with postgres the data dir holds no database)")
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
    """Asks for the next task every ``interval`` seconds; records failures and latencies.

    Open loop (default): every request runs in a thread of its own, started on schedule.  Closed loop:
    the next request starts ``interval`` seconds after the previous answer.  A request without an
    answer within 60 s counts as failed (status None).  :meth:`stop` waits for the requests under way.
    """

    def __init__(self, url: str, token: str, project: int, interval: float, closed_loop: bool = False):
        super().__init__(daemon=True)
        self.headers = {"Authorization": f"Token {token}"}
        self.address = f"{url}/api/projects/{project}/next/"
        self.interval = interval
        self.closed_loop = closed_loop
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.requests: list[threading.Thread] = []
        #: ``(status or None, start, end)`` per request, ``time.perf_counter()`` seconds
        self.results: list[tuple[int | None, float, float]] = []

    def _ask(self) -> None:
        start = time.perf_counter()
        try:
            status = requests.get(self.address, headers=self.headers, timeout=60).status_code
        except requests.RequestException:
            status = None
        with self.lock:
            self.results.append((status, start, time.perf_counter()))

    def run(self) -> None:
        next_start = time.perf_counter()
        while not self.stop_event.is_set():
            if self.closed_loop:
                self._ask()
                self.stop_event.wait(self.interval)
                continue
            request = threading.Thread(target=self._ask, daemon=True)
            request.start()
            self.requests.append(request)
            next_start += self.interval
            self.stop_event.wait(max(0.0, next_start - time.perf_counter()))

    def stop(self) -> None:
        self.stop_event.set()
        self.join()
        for request in self.requests:
            request.join()

    def summary(self, window: tuple[float, float] | None = None) -> dict:
        """Requests (all, or those overlapping ``window``): count, failures, latency p50 / p99 / max."""
        rows = [r for r in self.results if window is None or (r[1] <= window[1] and r[2] >= window[0])]
        failed = [s for s, _, _ in rows if s != 200]
        latencies = np.array([end - start for _, start, end in rows])
        return {"requests": len(rows), "failed": len(failed),
                "failed_statuses": sorted({str(s) for s in failed}),
                "p50_seconds": round(float(np.percentile(latencies, 50)), 3) if len(rows) else None,
                "p99_seconds": round(float(np.percentile(latencies, 99)), 3) if len(rows) else None,
                "max_seconds": round(float(latencies.max()), 3) if len(rows) else None}


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
    delete_started = time.perf_counter()
    removed = delete_superseded(api, project, name)
    delete_window = (delete_started, time.perf_counter())
    timings.update(removed["seconds"])
    report = {"model_version": name, "pushed": switched["pushed"], "deleted": removed["deleted"]}
    timings["total"] = sum(timings.values())
    return {"version": report["model_version"], "unlabelled": int(unlabelled.sum()), "pushed": report["pushed"],
            "deleted": report["deleted"], "seconds": {k: round(v, 3) for k, v in timings.items()},
            "delete_window": delete_window}


@contextlib.contextmanager
def label_studio(database: str, work_dir: str | None, extra_env: dict[str, str]):
    """The benchmark's Label Studio on ``database`` (``sqlite`` or ``postgres``)."""
    if database == "postgres":
        with labelstudio.label_studio_on_postgres(port_range=LS_PORTS, pg_port_range=PG_PORTS,
                                                  extra_env=extra_env) as server:
            yield server
    else:
        with labelstudio.start_label_studio(port_range=LS_PORTS, work_dir=work_dir, extra_env=extra_env) as server:
            yield server


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    predictions = rng.integers(0, args.classes, size=(args.tasks, args.models))
    truth = rng.integers(0, args.classes, size=args.tasks)
    extra_env = dict(labelstudio.EFFICIENT_PREDICTION_IMPORT) if args.efficient_import else {}
    load_before = os.getloadavg()
    print(f"starting Label Studio {labelstudio.LS_VERSION} on {args.database} ...", flush=True)
    with label_studio(args.database, args.work_dir, extra_env) as server:
        data_dir = str(server.data_dir or args.work_dir)
        ls_start_seconds = server.start_seconds
        print(f"Label Studio answered after {ls_start_seconds:.1f} s (migrations included)", flush=True)
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
        probe = NextTaskProbe(server.url, server.token, project, args.probe_interval, args.probe_closed_loop)
        probe.start()
        second = refresh(api, project, strategy, predictions, task_ids, 2, args.push_top)
        probe.stop()

    during_cleanup = probe.summary(second.pop("delete_window"))
    first.pop("delete_window")
    result = {
        "benchmark": "backend_push",
        "label_studio": labelstudio.LS_VERSION,
        "database": args.database,
        "label_studio_start_seconds": round(ls_start_seconds, 1),
        "data_dir": data_dir,
        "data_dir_in_ram": args.database == "sqlite" and data_dir.startswith("/dev/shm"),
        "efficient_import_flag": args.efficient_import,
        "tasks": args.tasks, "models": args.models, "classes": args.classes, "strategy": args.strategy,
        "push_top": args.push_top or None, "chunk_size": args.chunk_size, "labels": args.labels,
        "seed": args.seed,
        "import_tasks_seconds": round(import_seconds, 3),
        "refreshes": [first, second],
        "probe_during_refresh_2": probe.summary(),
        "probe_during_cleanup": during_cleanup,
        "probe_interval_seconds": args.probe_interval,
        "probe_loop": "closed" if args.probe_closed_loop else "open",
        "command": "python benchmarks/backend_push.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_1_5_15_before": [round(x, 2) for x in load_before],
                    "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()]},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    phases = ["list_tasks", "rescore", "push", "switch", "delete", "total"]
    print(f"\n{args.tasks} tasks, {args.models} candidates, strategy {args.strategy}, "
          f"Label Studio {labelstudio.LS_VERSION} on "
          + (f"SQLite ({'RAM' if result['data_dir_in_ram'] else 'disk'})" if args.database == "sqlite"
             else "PostgreSQL (throw-away cluster, fsync off)")
          + f", seed {args.seed}"
          f"{', efficient import flag' if args.efficient_import else ''}")
    print(f"{'refresh':<8}{'pushed':>8}{'deleted':>9}" + "".join(f"{p:>12}" for p in phases) + "   (seconds)")
    for number, run in enumerate([first, second], start=1):
        print(f"{number:<8}{run['pushed']:>8}{run['deleted']:>9}"
              + "".join(f"{run['seconds'][p]:>12.3f}" for p in phases))
    summary = result["probe_during_refresh_2"]
    print(f"next-task probe during refresh 2: {summary['failed']} of {summary['requests']} requests failed "
          f"{summary['failed_statuses']}, slowest {summary['max_seconds']} s")
    cleanup = result["probe_during_cleanup"]
    print(f"cleanup: {second['deleted']} superseded predictions deleted in {second['seconds']['delete']:.1f} s; "
          f"annotator requests during it: {cleanup['requests']}, failed {cleanup['failed']} "
          f"{cleanup['failed_statuses']}, latency p50 {cleanup['p50_seconds']} s, p99 {cleanup['p99_seconds']} s "
          f"({'closed loop: the next ' if args.probe_closed_loop else 'open loop: a '}request "
          f"{args.probe_interval:g} s {'after an answer' if args.probe_closed_loop else 'apart'})")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
