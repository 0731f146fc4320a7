"""50 concurrent annotators for 60 s against the production set-up; webhook and reader latencies, nothing lost.

Issue 11's load figure.  The set-up is the documented production one, for
real, on 127.0.0.1 (:mod:`tests.support.real_stack`): Label Studio 1.23.2
(its own venv), gunicorn with ``backend.gunicorn_conf`` (basic auth on),
Redis and an rq worker; the backend runs in confirmation mode (a webhook
stores a hint and enqueues; the worker re-reads the labels from Label
Studio's API, stores them and refreshes the queue order).

Before the clock starts, Label Studio is given a project with ``--queue-tasks``
unlabelled tasks (announced to the backend with ``TASKS_CREATED``, so
refreshes have a queue to order) and, imported as Label Studio tasks with one
annotation each, the tasks the annotators will "submit".  Then:

* ``--annotators`` threads each post the ``ANNOTATION_CREATED`` webhook Label
  Studio sends for their next annotation, authenticated as Label Studio is
  (``Authorization: Basic``), with Poisson arrivals at ``--rate`` per second
  per annotator (exponential gaps: bursts happen); ``--no-pacing``: back to
  back, to find the maximum sustained rate;
* ``--readers`` threads poll ``GET /rankings`` every second;
* refreshes run on the worker (``MODELPICKER_REFRESH_EVERY_LABELS=1``,
  priorities pushed to and the ranking written into Label Studio).

After ``--seconds`` the senders stop, the worker drains, and the script
checks that every acknowledged (200) annotation is in the store.  Latency is
measured from the moment a request is sent to its answer.

Scaled out (issue 15): ``--database postgres`` puts the backend's state in a
throw-away PostgreSQL cluster (``DATABASE_URL``), ``--backends 2`` starts two
gunicorn servers on it (the annotators' webhooks alternate between them), and
``--workers 3`` three rq workers.  After the drain the run is audited
(:mod:`benchmarks.scale_checks`): no label lost, no refresh lost, none run
twice for the same labels or at the same time as another, and the final
ranking equal to one fresh process's replay of the same labels.

Usage::

    flock /tmp/ls-e2e.lock .venv/bin/python benchmarks/load_annotators.py [--annotators 50] [--seconds 60]
    flock /tmp/ls-e2e.lock .venv/bin/python benchmarks/load_annotators.py --no-pacing --seconds 30
    flock /tmp/ls-e2e.lock .venv/bin/python benchmarks/load_annotators.py --database postgres --backends 2 --workers 3

Writes ``benchmarks/results/load_paced.json`` (``load_no_pacing.json``) with
the commit it ran on.  Seeded: the same arguments give the same arrival times
and annotations; the timings are this machine's.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python benchmarks/load_annotators.py` finds tests.support as -m does
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import scale_checks
from tests.support import labelstudio
from tests.support import real_stack as rs
from tests.support.postgres_server import postgres_server
from tests.support.redis_server import redis_server

RESULTS = REPO_ROOT / "benchmarks" / "results"
PORTS = (19250, 19300)


def percentiles(values: list[float]) -> dict:
    """p50/p95/p99/max/mean in milliseconds (None when there is no value)."""
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    a = np.asarray(values) * 1000.0
    return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p95_ms": round(float(np.percentile(a, 95)), 1), "p99_ms": round(float(np.percentile(a, 99)), 1),
            "max_ms": round(float(a.max()), 1), "mean_ms": round(float(a.mean()), 1)}


class Annotator(threading.Thread):
    """Posts its annotations' webhooks with Poisson arrivals (or back to back) until ``stop_at``."""

    def __init__(self, index, stack, project, items, rate, paced, t0, stop_at, seed, progress):
        super().__init__(daemon=True)
        #: the webhook bodies answered 200, in the order sent (what a replay feeds one process)
        self.bodies: list[dict] = []
        self.stack, self.project, self.items = stack, project, items
        self.rate, self.paced, self.t0, self.stop_at = rate, paced, t0, stop_at
        self.rng = random.Random(seed * 1000 + index)
        self.progress = progress
        self.latencies: list[float] = []
        self.lags: list[float] = []
        self.acked: list[int] = []
        self.errors: dict[str, int] = {}
        self.session = requests.Session()
        self.session.headers["Authorization"] = rs.basic_auth()
        self.exhausted = False
        self.last_answer = t0

    def run(self) -> None:
        due = self.t0
        for task, annotation in self.items:
            if self.paced:
                due += self.rng.expovariate(self.rate)
                if due >= self.stop_at:
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            sent = time.monotonic()
            if sent >= self.stop_at:
                return
            if self.paced:
                self.lags.append(max(0.0, sent - due))
            body = rs.annotation_webhook(self.project, task, annotation)
            try:
                r = self.session.post(self.stack.url + "/webhook", json=body, timeout=30)
                self.latencies.append(time.monotonic() - sent)
                if r.status_code == 200:
                    self.acked.append(int(annotation["id"]))
                    self.bodies.append(body)
                else:
                    key = f"HTTP {r.status_code}"
                    self.errors[key] = self.errors.get(key, 0) + 1
            except requests.RequestException as exc:
                # a timed-out request counts in the latencies with the time it was waited for (a lower bound)
                self.latencies.append(time.monotonic() - sent)
                self.errors[type(exc).__name__] = self.errors.get(type(exc).__name__, 0) + 1
            self.last_answer = time.monotonic()
            self.progress.update(1)
        self.exhausted = True


class Reader(threading.Thread):
    """Polls ``/rankings`` every second, as a dashboard would."""

    def __init__(self, stack, pid, stop_at):
        super().__init__(daemon=True)
        self.stack, self.pid, self.stop_at = stack, pid, stop_at
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.stale: list[float] = []      # age (s) of each answer marked up_to_date false (reported in ms)
        self.current = 0
        self.session = requests.Session()
        self.session.headers["Authorization"] = rs.basic_auth()

    def run(self) -> None:
        from datetime import datetime

        while time.monotonic() < self.stop_at:
            sent = time.monotonic()
            try:
                r = self.session.get(self.stack.url + f"/rankings?project={self.pid}", timeout=30)
                self.latencies.append(time.monotonic() - sent)
                if r.status_code != 200:
                    self.errors[f"HTTP {r.status_code}"] = self.errors.get(f"HTTP {r.status_code}", 0) + 1
                elif r.json().get("up_to_date") is False:
                    computed = datetime.fromisoformat(r.json()["computed_at"].replace("Z", "+00:00"))
                    self.stale.append(time.time() - computed.timestamp())
                else:
                    self.current += 1
            except requests.RequestException as exc:
                self.latencies.append(time.monotonic() - sent)
                self.errors[type(exc).__name__] = self.errors.get(type(exc).__name__, 0) + 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - sent)))


def prepare(ls, stacks, args, rng) -> tuple[dict, list[tuple[dict, dict]], list[dict]]:
    """The project, the (task, annotation) pairs to submit (from Label Studio) and the announced unlabelled queue;
    every backend of ``stacks`` started (on one store), ``args.workers`` rq workers on the first."""
    stack = stacks[0]
    per_annotator = int(args.seconds * args.rate * 1.5 + 20) if not args.no_pacing else args.max_per_annotator
    n_submit = per_annotator * args.annotators
    n_total = args.queue_tasks + n_submit
    pool = rs.write_pool(Path(stack.work_dir) / "pool", n_total, seed=args.seed)
    for s in stacks:
        s.pool = pool["pool"]
        s.start_backend()
    for _ in range(args.workers):
        stack.start_worker()
    project, queue = rs.prepare_project(ls, stack, pool["tasks"][:args.queue_tasks], title="load test")
    pid = int(project["id"])
    print(f"[load] project {pid}: {len(queue)} unlabelled tasks announced; importing {n_submit} annotated tasks",
          flush=True)
    annotated = [{"data": pool["tasks"][i], "annotations": [{"result": [
        {"from_name": "label", "to_name": "text", "type": "choices",
         "value": {"choices": [pool["truth"][i] if rng.random() < 0.9 else rng.choice(rs.CHOICES)]}}]}]}
        for i in range(args.queue_tasks, n_total)]
    for i in range(0, len(annotated), 1000):
        ls.call("POST", f"/api/projects/{pid}/import", json=annotated[i:i + 1000])
    deadline = time.monotonic() + 60
    while True:  # Label Studio may still be storing the last imports when it answers
        pairs = [({"id": task["id"], "data": task["data"]}, annotation)
                 for task in ls.tasks(pid) for annotation in task.get("annotations", [])]
        if len(pairs) >= n_submit or time.monotonic() > deadline:
            break
        print(f"[load] Label Studio holds {len(pairs)} of {n_submit} annotations; waiting", flush=True)
        time.sleep(5)
    pairs.sort(key=lambda p: p[1]["id"])
    if len(pairs) < n_submit:
        print(f"[load] Label Studio holds {len(pairs)} of the {n_submit} annotations imported; using those", flush=True)
    stack.drain(pid, timeout=300)
    return project, pairs, queue


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "backend"], cwd=REPO_ROOT, capture_output=True,
                           text=True).stdout.strip()
    return out.stdout.strip() + ("+uncommitted backend changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--annotators", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rate", type=float, default=1.0, help="annotations per second per annotator (Poisson)")
    p.add_argument("--readers", type=int, default=5)
    p.add_argument("--queue-tasks", type=int, default=300)
    p.add_argument("--no-pacing", action="store_true", help="send back to back: the maximum sustained rate")
    p.add_argument("--max-per-annotator", type=int, default=120, help="with --no-pacing: annotations each")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                   help="the backend's store: the SQLite file (default) or a throw-away PostgreSQL cluster")
    p.add_argument("--backends", type=int, default=1, help="gunicorn servers on the one store (webhooks alternate)")
    p.add_argument("--workers", type=int, default=1, help="rq workers")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    # SIGTERM ends the run like Ctrl-C, so Label Studio, gunicorn, the worker and Redis are stopped
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if args.annotators < 1 or args.seconds <= 0 or args.rate <= 0 or args.backends < 1 or args.workers < 1:
        p.error("--annotators, --seconds, --rate, --backends and --workers must be positive")
    scaled = args.database != "sqlite" or args.backends > 1 or args.workers > 1
    out = args.out or RESULTS / ("load_no_pacing.json" if args.no_pacing else
                                 f"load_scaled_{args.database}.json" if scaled else "load_paced.json")
    rng = random.Random(args.seed)
    commit = git_commit()
    work = Path(tempfile.mkdtemp(prefix="modelpicker-load-"))  # on disk: the store fsyncs as in production
    print(f"[load] commit {commit}; starting Label Studio (about a minute)", flush=True)
    ls_server = labelstudio.start_label_studio(port_range=(18100, 18200))
    try:
        with redis_server(PORTS, work) as redis_url, contextlib.ExitStack() as pg:
            # the periodic sync is off: Label Studio already holds every annotation before its webhook is sent
            # (imported up front), which a sync would "catch up" all at once, unlike real annotators
            extra = {"MODELPICKER_REFRESH_EVERY_LABELS": "1", "MODELPICKER_REFRESH_MIN_SECONDS": "2",
                     "MODELPICKER_SYNC_EVERY_SECONDS": "0", "MODEL_DIR": str(work / "model_dir")}
            if args.database == "postgres":
                extra["DATABASE_URL"] = pg.enter_context(postgres_server((19150, 19200)))
            stacks = []
            for i in range(args.backends):  # each its own port and logs; one store, one Redis
                (work / f"backend-{i}").mkdir()
                stacks.append(rs.Stack(work if i == 0 else work / f"backend-{i}", Path("unset"), ls_server.url,
                                       ls_server.personal_token, redis_url, port_range=PORTS, extra_env=extra))
            stack = stacks[0]
            try:
                ls = rs.LabelStudioAPI(ls_server.url, ls_server.token)
                project, pairs, queue = prepare(ls, stacks, args, rng)
                pid = int(project["id"])
                per = len(pairs) // args.annotators
                t0 = time.monotonic() + 1.0
                stop_at = t0 + args.seconds
                expected = int(args.annotators * args.rate * args.seconds) if not args.no_pacing else len(pairs)
                with tqdm(total=expected, unit="webhook", desc="webhooks") as progress:
                    annotators = [Annotator(i, stacks[i % len(stacks)], project, pairs[i * per:(i + 1) * per],
                                            args.rate, not args.no_pacing, t0, stop_at, args.seed, progress)
                                  for i in range(args.annotators)]
                    readers = [Reader(stack, pid, stop_at) for _ in range(args.readers)]
                    for t in annotators + readers:
                        t.start()
                    for t in annotators + readers:
                        t.join()
                elapsed = max(time.monotonic(), stop_at) - t0
                acked = [a for t in annotators for a in t.acked]
                print(f"[load] {len(acked)} acknowledged; waiting for the worker to drain", flush=True)
                drain_s = stack.drain(pid, expected=len(acked), timeout=600, jobs_idle=scaled)
                stored = stack.store_labels(pid)
                audit = replay = None
                if scaled:
                    print("[load] auditing the refreshes and replaying the labels in one process", flush=True)
                    audit, replay = _audit(stack, pid, project, queue, [b for t in annotators for b in t.bodies])
                lost = sorted(set(acked) - set(stored))
                errors: dict[str, dict[str, int]] = {"webhooks": {}, "readers": {}}
                for kind, threads in (("webhooks", annotators), ("readers", readers)):
                    for t in threads:
                        for k, v in t.errors.items():
                            errors[kind][k] = errors[kind].get(k, 0) + v
                web = [x for t in annotators for x in t.latencies]
                result = {
                    "commit": commit,
                    "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
                    "setup": "Label Studio 1.23.2 + gunicorn -c python:backend.gunicorn_conf backend.wsgi:app "
                             "(default workers/threads) + Redis + rq worker (SimpleWorker); basic auth on; "
                             "confirmation mode (LABEL_STUDIO_URL/API key set); REFRESH_EVERY_LABELS=1",
                    "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "paced": not args.no_pacing, "seconds": round(elapsed, 2),
                    "webhooks_sent": len(web), "acknowledged": len(acked),
                    "rate_per_s": round(len(acked) / elapsed, 1),
                    "webhook_seconds": round(max(t.last_answer for t in annotators) - t0, 2),
                    "webhook_rate_per_s": round(len(acked) / max(1e-9, max(t.last_answer for t in annotators) - t0), 1),
                    "note": "latencies run from send to answer; a request that timed out (30 s) counts with the "
                            "time waited; seconds = from the first send to the last answer",
                    "webhook_latency": percentiles(web),
                    "schedule_lag": (percentiles([x for t in annotators for x in t.lags])
                                     if not args.no_pacing else None),
                    "reader_latency": percentiles([x for t in readers for x in t.latencies]),
                    "reader_answers": {"up_to_date": sum(t.current for t in readers),
                                       "previous_ranking": sum(len(t.stale) for t in readers),
                                       "previous_ranking_age": percentiles([x for t in readers for x in t.stale])},
                    "errors": errors,
                    "annotators_out_of_annotations": sum(t.exhausted for t in annotators),
                    "drain_seconds": round(drain_s, 1), "stored_labels": len(stored), "lost": len(lost),
                    "lost_ids": lost[:50], "store_integrity": stack.integrity(),
                    "targets": {"webhook_p99_ms": 100, "webhook_p50_ms": 20, "lost": 0},
                    "scale": {"database": args.database, "backends": args.backends, "workers": args.workers,
                              "refreshes": audit, "replay": replay} if scaled else None,
                }
            finally:
                for s in stacks:
                    s.stop()
    finally:
        ls_server.stop()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    w, r = result["webhook_latency"], result["reader_latency"]
    print(f"[load] webhooks: {result['acknowledged']} acknowledged of {result['webhooks_sent']} in "
          f"{result['seconds']} s ({result['rate_per_s']}/s); p50 {w['p50_ms']} ms, p95 {w['p95_ms']} ms, "
          f"p99 {w['p99_ms']} ms, max {w['max_ms']} ms; readers p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms; "
          f"errors {errors}; stored {result['stored_labels']}, lost {result['lost']}; wrote {out}")
    if scaled:
        a, rp = result["scale"]["refreshes"], result["scale"]["replay"]
        print(f"[load] {args.backends} backends, {args.workers} workers on {args.database}: {a['worked']} refreshes "
              f"did work ({a['skipped_as_already_done']} found their labels done), run twice for the same labels "
              f"{a['run_twice_for_same_labels']}, overlapping {a['overlapping']}, failed {a['failed']}, lost "
              f"{a['lost']} (last covered {a['last_covered']} of {a['label_changes']} label changes); ranking equal "
              f"to a one-process replay: {rp['equal']} ({rp})")
        bad = a["run_twice_for_same_labels"] or a["overlapping"] or a["failed"] or a["lost"] or not rp["equal"]
        return 0 if not lost and not bad else 1
    return 0 if not lost else 1


def _audit(stack, pid: int, project: dict, queue: list[dict], bodies: list[dict]) -> tuple[dict, dict]:
    """The refresh audit and the replay comparison of :mod:`benchmarks.scale_checks`."""
    from backend.store import open_store

    jobs = stack.session.get(stack.url + f"/jobs?project={pid}&limit=1000", timeout=60).json()["jobs"]
    store = open_store(stack.extra_env.get("DATABASE_URL"), stack.db_path)
    try:
        changes = store.refresh_state(pid)["label_changes"]
    finally:
        store.close()
    scaled_ranking = stack.session.get(stack.url + f"/rankings?project={pid}", timeout=60).json()
    single = scale_checks.replay_ranking(stack.pool, project, queue, bodies, "certified")
    return scale_checks.refresh_audit(jobs, changes), scale_checks.compare_rankings(scaled_ranking, single)


if __name__ == "__main__":
    sys.exit(main())
