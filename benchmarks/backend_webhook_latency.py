"""The webhook's answer time while a refresh of a large project runs on an rq worker.

Label Studio waits for a webhook answer only ``WEBHOOK_TIMEOUT`` seconds
(1 s by default in 1.23.2), so the backend must answer fast even while it
re-prioritises a large project.  This script starts, on 127.0.0.1:

* a ``redis-server`` (temporary directory, no persistence),
* an ``rq worker --with-scheduler`` process on the queue ``modelpicker``,
* ``python -m backend`` with ``REDIS_URL`` (refreshes go to the worker),
* and, unless ``--no-label-studio``, a real Label Studio 1.23.2 from its own
  venv (``tests/support/labelstudio.py``), into which ``--tasks`` text tasks are
  imported; the refresh then pushes every priority to it, switches the
  project's model version, writes the ranking and deletes the old priorities.

The pool is synthetic (``--models`` prediction files over ``--tasks`` tasks,
seeded).  After the first refresh, ``--webhooks`` ``ANNOTATION_CREATED``
deliveries (the payload Label Studio sends) are posted to ``/webhook`` one at
a time, every ``--pace`` seconds, each one a new label, so refreshes keep
running on the worker (coalesced: one waits while one runs).  Each answer
time is classed by whether a refresh was running when the webhook was sent
(from the job records of ``GET /jobs``).

Usage::

    python benchmarks/backend_webhook_latency.py [--tasks 5000] [--models 10] [--webhooks 300]

Writes ``benchmarks/results/backend_webhook_latency.json`` and prints the
median and 99th percentile.  Same arguments, same data and labels; the
timings are of this machine.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

REPO_ROOT = Path(__file__).resolve().parents[1]

from tests.support.labelstudio import log_tail, start_backend, start_label_studio, start_rq_worker
from tests.support.polling import wait_until
from tests.support.redis_server import RedisServerError, find_redis_server, redis_server

LS_PORTS, BACKEND_PORTS, REDIS_PORTS = (18300, 18400), (19400, 19500), (16400, 16500)
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "backend_webhook_latency.json"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def summary(values: list[float]) -> dict:
    ms = [1000 * v for v in values]
    return {"n": len(ms), "median_ms": statistics.median(ms) if ms else None,
            "p99_ms": percentile(ms, 99) if ms else None, "max_ms": max(ms) if ms else None}


def write_pool(folder: Path, n_tasks: int, n_models: int, n_classes: int, rng: np.random.Generator):
    """Synthetic candidates: model ``m`` is right on about 50-90% of the tasks; returns (choices, config, truth)."""
    truth = rng.integers(0, n_classes, n_tasks)
    choices = [f"c{k}" for k in range(n_classes)]
    config = ('<View><Text name="t" value="$key"/><Choices name="label" toName="t">'
              + "".join(f'<Choice value="{c}"/>' for c in choices) + "</Choices></View>")
    lines = ["data_field: key", "candidates:"]
    for m in range(n_models):
        right = rng.random(n_tasks) < 0.5 + 0.4 * m / max(n_models - 1, 1)
        answers = np.where(right, truth, rng.integers(0, n_classes, n_tasks))
        rows = "".join(f"k{i},{choices[v]}\n" for i, v in enumerate(answers))
        (folder / f"m{m}.csv").write_text("key,label\n" + rows)
        lines += [f"  - name: m{m}", f"    source: {{type: predictions, path: m{m}.csv}}"]
    (folder / "pool.yaml").write_text("\n".join(lines) + "\n")
    return choices, config, truth


def wait(predicate, timeout: float, what: str, interval: float = 0.2):
    return wait_until(predicate, what, timeout, interval)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--webhooks", type=int, default=300, help="ANNOTATION_CREATED deliveries to time")
    ap.add_argument("--pace", type=float, default=0.05, help="seconds between deliveries")
    ap.add_argument("--strategy", default="consensus")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-label-studio", action="store_true",
                    help="no Label Studio: the refresh only rescores and decides (no push)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if min(args.tasks, args.models, args.webhooks) < 1 or args.classes < 2 or args.pace < 0 \
            or args.webhooks >= args.tasks:
        ap.error("need tasks, models, webhooks >= 1, webhooks < tasks, classes >= 2, pace >= 0")
    try:
        find_redis_server()
    except RedisServerError as exc:
        print(exc, file=sys.stderr)
        return 1

    rng = np.random.default_rng(args.seed)
    processes: list = []
    with tempfile.TemporaryDirectory(prefix="modelpicker-latency-") as tmp, contextlib.ExitStack() as resources:
        tmp = Path(tmp)
        choices, config, truth = write_pool(tmp, args.tasks, args.models, args.classes, rng)
        try:
            ls = None
            if not args.no_label_studio:
                print("starting Label Studio ...", flush=True)
                ls = start_label_studio(port_range=LS_PORTS)
                processes.append(ls)
            redis_url = resources.enter_context(redis_server(REDIS_PORTS, tmp))  # stopped after the others
            env = {"MODEL_DIR": str(tmp / "state"), "MODELPICKER_POOL": str(tmp / "pool.yaml"),
                   "MODELPICKER_STRATEGY": args.strategy, "MODELPICKER_SEED": str(args.seed),
                   "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING",
                   # the refresh must not stop early: this measures the queue work, not the stopping rule
                   "MODELPICKER_CONFIDENCE": "0.999999", "MODELPICKER_MIN_LABELS": str(args.tasks)}
            if ls is not None:
                env.update(LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=ls.token)
            worker = start_rq_worker(env, redis_url, tmp / "rq-worker.log")
            processes.append(worker)
            backend = start_backend(env, tmp / "backend.log", port_range=BACKEND_PORTS)
            processes.append(backend)
            session = requests.Session()

            t0 = time.perf_counter()
            if ls is not None:
                project = int(ls.api("POST", "/api/projects/", json={"title": "latency", "label_config": config})["id"])
                ls.api("POST", "/api/ml/", json={"project": project, "url": backend.url, "title": "ModelPicker"})
                ls.api("POST", f"/api/projects/{project}/import",
                       json=[{"key": f"k{i}"} for i in range(args.tasks)], timeout=600)
                ids = {}
                page = 1
                while len(ids) < args.tasks:
                    rows = ls.api("GET", "/api/tasks/", params={"project": project, "page": page, "page_size": 1000,
                                                               "fields": "all"})
                    rows = rows["tasks"] if isinstance(rows, dict) else rows
                    if not rows:
                        break
                    ids.update({r["data"]["key"]: int(r["id"]) for r in rows})
                    page += 1
                task_ids = [ids[f"k{i}"] for i in range(args.tasks)]
            else:
                project = 1
                session.post(backend.url + "/setup", json={"project": project, "schema": config}).raise_for_status()
                task_ids = list(range(1, args.tasks + 1))
                session.post(backend.url + "/webhook", json={
                    "action": "TASKS_CREATED", "project": {"id": project, "label_config": config},
                    "tasks": [{"id": t, "data": {"key": f"k{i}"}} for i, t in enumerate(task_ids)]},
                    timeout=600).raise_for_status()
            print(f"{args.tasks} tasks imported in {time.perf_counter() - t0:.1f} s; waiting for the first refresh",
                  flush=True)

            def jobs():
                return session.get(backend.url + "/jobs", params={"project": project, "limit": 1000},
                                   timeout=30).json().get("jobs", [])

            wait(lambda: any(j["kind"] == "refresh" and j["state"] == "finished" for j in jobs()), 1800,
                 "the first refresh (see the rq worker log)", interval=1.0)
            project_body = {"id": project, "label_config": config}
            order = rng.permutation(args.tasks)[:args.webhooks]
            samples = []
            for k, i in enumerate(order):
                body = {"action": "ANNOTATION_CREATED", "project": project_body,
                        "task": {"id": task_ids[i], "data": {"key": f"k{i}"}},
                        "annotation": {"id": 10_000_000 + k, "task": task_ids[i], "was_cancelled": False,
                                       "updated_at": "2026-11-23T12:00:00Z",
                                       "result": [{"from_name": "label", "to_name": "t", "type": "choices",
                                                   "value": {"choices": [choices[truth[i]]]}}]}}
                sent = time.time()
                start = time.perf_counter()
                response = session.post(backend.url + "/webhook", json=body, timeout=60)
                elapsed = time.perf_counter() - start
                if response.status_code != 200:
                    raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:300]}")
                samples.append((sent, elapsed))
                time.sleep(args.pace)
            print("deliveries done; waiting for the refreshes to finish", flush=True)
            wait(lambda: not any(j["state"] in ("queued", "started") for j in jobs()), 1800,
                 "the last refresh", interval=1.0)
            records = [j for j in jobs() if j["kind"] == "refresh"]
        except BaseException:
            for name in ("backend.log", "rq-worker.log"):
                print(f"--- {name} ---\n{log_tail(tmp / name, 40)}", file=sys.stderr)
            raise
        finally:
            for proc in reversed(processes):
                proc.stop()

    spans = [(j["started_at"], j["finished_at"]) for j in records if j["started_at"] and j["finished_at"]]
    during = [e for sent, e in samples if any(a <= sent <= b for a, b in spans)]
    idle = [e for sent, e in samples if not any(a <= sent <= b for a, b in spans)]
    finished = [j for j in records if j["state"] == "finished" and j["result"]]
    result = {
        "what": "webhook (ANNOTATION_CREATED) answer time over HTTP while refreshes run on an rq worker",
        "produced_by": "python benchmarks/backend_webhook_latency.py " + " ".join(argv or sys.argv[1:]),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "label_studio": None if args.no_label_studio else "1.23.2 (SQLite, data dir in /dev/shm when available)",
        "tasks": args.tasks, "models": args.models, "classes": args.classes, "strategy": args.strategy,
        "seed": args.seed, "pace_seconds": args.pace,
        "webhook_during_refresh": summary(during),
        "webhook_no_refresh_running": summary(idle),
        "webhook_all": summary([e for _, e in samples]),
        "refreshes": {"count": len(finished), "failed": sum(j["state"] == "failed" for j in records),
                      "seconds_median": statistics.median([j["finished_at"] - j["started_at"] for j in finished])
                      if finished else None,
                      "pushed_median": statistics.median([j["result"]["pushed"] for j in finished])
                      if finished else None,
                      "step_seconds_of_last": finished[0]["result"]["seconds"] if finished else None},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    d, a = result["webhook_during_refresh"], result["webhook_all"]
    print(f"webhook answer while a refresh runs: median {d['median_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms "
          f"(n={d['n']}); all: median {a['median_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms (n={a['n']}); "
          f"{len(finished)} refreshes, median {result['refreshes']['seconds_median']:.1f} s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
