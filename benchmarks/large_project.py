"""A 100,000-task project on the production set-up (issue 15, part 3): import, first predictions, refresh,
the annotator's wait and the backend's memory.

Everything on 127.0.0.1 and thrown away at the end:

* one PostgreSQL cluster (``tests/support/postgres_server.py``: fsync off) holding two databases, Label
  Studio's (``label_studio``) and the backend's store (``modelpicker``, ``DATABASE_URL``);
* Label Studio 1.23.2 on it (``tests/support/labelstudio.start_label_studio(database_url=...)``);
* the backend as in production (``tests/support/real_stack.Stack``): gunicorn with ``backend.gunicorn_conf``
  (basic auth on), Redis and one rq worker, confirmation mode (``LABEL_STUDIO_URL`` + the admin's API key),
  strategy ``certified``, ``MODELPICKER_PUSH_LIMIT`` 100 (the default), a refresh after every label.

The project is synthetic and seeded (``--seed``): ``--tasks`` text tasks keyed by the data field ``key``,
``--classes`` classes, ``--candidates`` candidates given as predictions files (even candidates CSV, odd
ones JSONL) keyed by ``key``; candidate ``c000`` is right on 85% of the tasks, the others on a seeded
uniform 30-80%, so one best exists.  Steps and what is measured:

1. connect the backend to the project (Label Studio's ML form with basic auth; the webhook gets the
   header), then import the tasks in chunks of ``--import-chunk``: **import time** (Label Studio's
   answers; its ``TASKS_CREATED`` webhooks only leave hints);
2. wait until the rq worker has confirmed every task and cached **every candidate's answer for every task**
   in the store, and the first refresh (0 labels) finished: time, rows of ``predictions``, the store's
   size (``pg_database_size``, ``pg_total_relation_size('predictions')``);
3. idle memory, then **one label** (the task ``/next/`` serves, answered with its true class) and the
   refresh it triggers: the refresh job's ``seconds`` per step, read from ``GET /jobs?project=N``
   (``rescore`` = total minus the steps it names: confirming, computing missing predictions, fitting the
   belief and deciding);
4. **the annotator's wait**: one simulated annotator thread asks ``GET /api/projects/{id}/next/`` and
   submits the served task's true class (``POST /api/tasks/{id}/annotations/``, as
   ``tests/e2e/test_round_e2e.py`` does), ``--think`` seconds apart, for ``--annotate-seconds``; every
   label triggers a refresh on the worker, so requests meet refreshes.  Latency p50 / p99 / max and
   failed requests (not 2xx, or no answer within 60 s), for all requests and for those overlapping a
   refresh job (its ``started_at``..``finished_at``);
5. **memory**: VmRSS of the gunicorn master and its workers and of the rq worker
   (``/proc/<pid>/status``), sampled every 0.25 s: idle before the label, peak during step 3 and step 4,
   and VmHWM (each process's own peak since it started, the first computation included) at the end.

Writes ``benchmarks/results/large_project.json`` (``--out``) with the commit, prints a summary.

    flock /tmp/ls-e2e.lock .venv/bin/python benchmarks/large_project.py --tasks 5000 \\
        --out benchmarks/results/large_project_5000.json                                 # quick run
    flock /tmp/ls-e2e.lock .venv/bin/python benchmarks/large_project.py                   # 100,000 tasks
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python benchmarks/large_project.py` finds tests.support as -m does
    sys.path.insert(0, str(REPO_ROOT))

from tqdm import tqdm  # noqa: E402

from tests.support import labelstudio, real_stack  # noqa: E402
from tests.support.postgres_server import create_database, postgres_server  # noqa: E402
from tests.support.redis_server import redis_server  # noqa: E402

LS_PORTS, PG_PORTS, REDIS_PORTS, BACKEND_PORTS = (18700, 18800), (15700, 15800), (16700, 16800), (19700, 19800)
BEST_ACCURACY, OTHER_ACCURACY = 0.85, (0.30, 0.80)
PUSH_LIMIT = 100
#: an annotator's request without an answer within this many seconds counts as failed
REQUEST_TIMEOUT = 60.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in the project (default 100000)")
    parser.add_argument("--candidates", type=int, default=100, help="candidate models (default 100)")
    parser.add_argument("--classes", type=int, default=10, help="classes (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the candidates and the backend")
    parser.add_argument("--import-chunk", type=int, default=10_000, help="tasks per Label Studio import request")
    parser.add_argument("--annotate-seconds", type=float, default=120.0,
                        help="how long the simulated annotator works (step 4, default 120)")
    parser.add_argument("--think", type=float, default=2.0,
                        help="seconds the annotator spends on a task between submitting and asking again")
    parser.add_argument("--grace", type=float, default=0.0,
                        help="MODELPICKER_PRIORITY_GRACE_SECONDS (default 0: every refresh deletes the version "
                             "it superseded, the clean-up measured; production default 30)")
    parser.add_argument("--bulk-cache", action="store_true",
                        help="the script fills the store's prediction cache itself (one COPY) before the backend "
                             "sees the tasks, and announces them with TASKS_CREATED webhooks as Label Studio does: "
                             "for sizes where the backend's own first computation takes hours (see the docs)")
    parser.add_argument("--legacy-prediction-import", action="store_true",
                        help="run Label Studio without the setting docs/large-projects.md recommends "
                             "(tests/support/labelstudio.EFFICIENT_PREDICTION_IMPORT): every prediction import "
                             "then recounts every task of the project")
    parser.add_argument("--web-workers", type=int, default=0,
                        help="MODELPICKER_WORKERS, gunicorn's processes (default 0: the production default, "
                             "2 x cores, at most 8)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds to wait for the first computation and for a refresh (default 3600)")
    parser.add_argument("--work-dir", default=None,
                        help="prediction files and logs (default: a new temporary directory, kept)")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "large_project.json"))
    args = parser.parse_args(argv)
    for name in ("tasks", "candidates", "classes", "import_chunk"):
        if getattr(args, name) < 2:
            parser.error(f"--{name.replace('_', '-')} is too small")
    return args


# ------------------------------------------------------------------ data
def make_data(directory: Path, n_tasks: int, n_candidates: int, n_classes: int, seed: int) -> dict:
    """Prediction files, ``pool.yaml``, the label config and the true classes (seeded).

    Kept in ``directory`` with ``data.json``; a later run with the same sizes and seed reuses them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    manifest = directory / "data.json"
    params = {"tasks": n_tasks, "candidates": n_candidates, "classes": n_classes, "seed": seed}
    if manifest.exists():
        kept = json.loads(manifest.read_text())
        if kept.get("params") == params and (directory / "pool.yaml").exists():
            print(f"reusing the prediction files in {directory}", flush=True)
            return {**kept["data"], "pool": directory / "pool.yaml"}
    rng = np.random.default_rng(seed)
    choices = [f"class{k}" for k in range(n_classes)]
    keys = [f"t{i:06d}" for i in range(n_tasks)]
    truth = rng.integers(0, n_classes, n_tasks)
    accuracy = np.concatenate([[BEST_ACCURACY], rng.uniform(*OTHER_ACCURACY, n_candidates - 1)])
    names = [f"c{c:03d}" for c in range(n_candidates)]
    lines = ["data_field: key", "candidates:"]
    for c in tqdm(range(n_candidates), desc="prediction files", unit="candidate"):
        wrong = rng.random(n_tasks) >= accuracy[c]
        answers = np.where(wrong, (truth + rng.integers(1, n_classes, n_tasks)) % n_classes, truth)
        if c % 2 == 0:
            path = f"{names[c]}.csv"
            body = "key,label\n" + "".join(f"{k},{choices[a]}\n" for k, a in zip(keys, answers))
        else:
            path = f"{names[c]}.jsonl"
            body = "".join(f'{{"key": "{k}", "label": "{choices[a]}"}}\n' for k, a in zip(keys, answers))
        (directory / path).write_text(body)
        lines += [f"  - name: {names[c]}", f"    source: {{type: predictions, path: {path}, label_column: label}}"]
    (directory / "pool.yaml").write_text("\n".join(lines) + "\n")
    config = ('<View><Text name="text" value="$key"/><Choices name="label" toName="text">'
              + "".join(f'<Choice value="{c}"/>' for c in choices) + "</Choices></View>")
    realised = [float(np.mean(np.array(_read_answers(directory, names[c], c % 2 == 0, choices)) == truth))
                for c in range(min(n_candidates, 3))]
    data = {"config": config, "keys": keys, "choices": choices,
            "truth": {k: choices[t] for k, t in zip(keys, truth)}, "names": names,
            "accuracy": [round(float(a), 4) for a in accuracy], "realised_accuracy_first3": realised}
    manifest.write_text(json.dumps({"params": params, "data": data}))
    return {**data, "pool": directory / "pool.yaml"}


def _read_answers(directory: Path, name: str, csv: bool, choices: list[str]) -> list[int]:
    index = {c: i for i, c in enumerate(choices)}
    if csv:
        rows = (directory / f"{name}.csv").read_text().splitlines()[1:]
        return [index[r.split(",")[1]] for r in rows]
    return [index[json.loads(r)["label"]] for r in (directory / f"{name}.jsonl").read_text().splitlines()]


# ------------------------------------------------------------------ memory
def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in kB ({} when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class MemorySampler(threading.Thread):
    """Samples VmRSS (MB) of gunicorn's master, each gunicorn worker and the rq worker every ``interval`` s."""

    def __init__(self, gunicorn_pid: int, worker_pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.gunicorn_pid, self.worker_pid, self.interval = gunicorn_pid, worker_pid, interval
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        #: (time.time(), {"gunicorn_master": MB, "gunicorn_workers": [MB...], "rq_worker": MB})
        self.samples: list[tuple[float, dict]] = []

    def sample(self) -> dict:
        rss = lambda pid: round(_status(pid).get("VmRSS", 0) / 1024, 1)  # noqa: E731
        return {"gunicorn_master": rss(self.gunicorn_pid),
                "gunicorn_workers": [rss(p) for p in _children(self.gunicorn_pid)],
                "rq_worker": rss(self.worker_pid)}

    def hwm(self) -> dict:
        hwm = lambda pid: round(_status(pid).get("VmHWM", 0) / 1024, 1)  # noqa: E731
        return {"gunicorn_master": hwm(self.gunicorn_pid),
                "gunicorn_workers": [hwm(p) for p in _children(self.gunicorn_pid)],
                "rq_worker": hwm(self.worker_pid)}

    def run(self) -> None:
        while not self.stop_event.is_set():
            sample = self.sample()
            with self.lock:
                self.samples.append((time.time(), sample))
            self.stop_event.wait(self.interval)

    def stop(self) -> None:
        self.stop_event.set()
        self.join()

    def peak(self, since: float, until: float | None = None) -> dict:
        """Largest RSS (MB) of each process kind, and of the backend's total, in the window."""
        with self.lock:
            rows = [s for t, s in self.samples if t >= since and (until is None or t <= until)]
        if not rows:
            return {}
        total = [s["gunicorn_master"] + sum(s["gunicorn_workers"]) + s["rq_worker"] for s in rows]
        return {"gunicorn_master_mb": max(s["gunicorn_master"] for s in rows),
                "gunicorn_worker_max_mb": max(max(s["gunicorn_workers"], default=0) for s in rows),
                "gunicorn_workers_sum_mb": round(max(sum(s["gunicorn_workers"]) for s in rows), 1),
                "rq_worker_mb": max(s["rq_worker"] for s in rows),
                "backend_total_mb": round(max(total), 1), "samples": len(rows)}


# ------------------------------------------------------------------ the annotator
class Annotator(threading.Thread):
    """Asks Label Studio for the next task and submits its true class, ``think`` seconds apart (closed loop)."""

    def __init__(self, url: str, token: str, project: int, truth: dict[str, str], think: float):
        super().__init__(daemon=True)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.url, self.project, self.truth, self.think = url, project, truth, think
        self.stop_event = threading.Event()
        #: (kind "next"/"submit", status or None, start, end) in time.time() seconds
        self.requests: list[tuple[str, int | None, float, float]] = []
        self.labels = 0

    def _call(self, kind: str, method: str, path: str, **kwargs):
        start = time.time()
        try:
            response = self.session.request(method, self.url + path, timeout=REQUEST_TIMEOUT, **kwargs)
            status = response.status_code
        except requests.RequestException:
            response, status = None, None
        self.requests.append((kind, status, start, time.time()))
        return response if status is not None and 200 <= status < 300 else None

    def run(self) -> None:
        while not self.stop_event.is_set():
            answer = self._call("next", "GET", f"/api/projects/{self.project}/next/")
            if answer is None:
                self.stop_event.wait(self.think)
                continue
            task = answer.json()
            choice = self.truth[task["data"]["key"]]
            result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [choice]}}]
            if self._call("submit", "POST", f"/api/tasks/{task['id']}/annotations/",
                          json={"result": result, "lead_time": self.think}) is not None:
                self.labels += 1
            self.stop_event.wait(self.think)

    def stop(self) -> None:
        self.stop_event.set()
        self.join()


def latency_summary(rows: list[tuple[str, int | None, float, float]]) -> dict:
    failed = [s for _, s, _, _ in rows if s is None or not 200 <= s < 300]
    ms = np.array([(end - start) * 1000 for _, _, start, end in rows])
    pct = lambda q: round(float(np.percentile(ms, q)), 1) if len(ms) else None  # noqa: E731
    return {"requests": len(rows), "failed": len(failed), "failed_statuses": sorted({str(s) for s in failed}),
            "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": round(float(ms.max()), 1) if len(ms) else None}


# ------------------------------------------------------------------ the backend's side
def _ts(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(value).timestamp()


def jobs(stack: real_stack.Stack, project: int) -> list[dict]:
    return stack.session.get(stack.url + "/jobs", params={"project": project, "limit": 1000}, timeout=60).json()["jobs"]


def refresh_jobs(stack: real_stack.Stack, project: int) -> list[dict]:
    """The project's refresh job records, oldest first."""
    return sorted((j for j in jobs(stack, project) if j["kind"] == "refresh"), key=lambda j: _ts(j["created_at"]))


def store_figures(database_url: str, project: int) -> dict:
    import psycopg

    with psycopg.connect(database_url) as db:
        rows = db.execute("SELECT count(*) FROM predictions WHERE project = %s", (project,)).fetchone()[0]
        tasks = db.execute("SELECT count(*) FROM tasks WHERE project = %s", (project,)).fetchone()[0]
        size = db.execute("SELECT pg_database_size(current_database()), pg_total_relation_size('predictions')"
                          ).fetchone()
    return {"prediction_rows": int(rows), "tasks": int(tasks), "database_mb": round(size[0] / 2**20, 1),
            "predictions_table_mb": round(size[1] / 2**20, 1)}


def step_seconds(job: dict) -> dict:
    """The refresh's seconds per step; ``rescore`` = total minus the named write-back steps."""
    seconds = dict((job.get("result") or {}).get("seconds") or {})
    named = sum(v for k, v in seconds.items() if k != "total")
    if "total" in seconds:
        seconds["rescore"] = seconds["total"] - named
    seconds = {k: round(v, 3) for k, v in seconds.items()}
    started, finished = _ts(job.get("started_at")), _ts(job.get("finished_at"))
    queued = _ts(job.get("created_at"))
    if started and finished:
        seconds["job_wall"] = round(finished - started, 3)
    if queued and started:
        seconds["queued_wait"] = round(started - queued, 3)
    return seconds


def wait_refreshed(stack: real_stack.Stack, project: int, labels: int, timeout: float, known: set[str]) -> dict:
    """The first finished refresh (not in ``known``) covering ``labels`` labels, once no refresh is busy."""
    deadline = time.monotonic() + timeout
    while True:
        all_jobs = refresh_jobs(stack, project)
        failed = [j for j in all_jobs if j["state"] == "failed" and j["id"] not in known]
        if failed:
            raise RuntimeError(f"refresh failed: {failed[0]['message']}")
        busy = [j for j in all_jobs if j["state"] in ("queued", "started")]
        done = [j for j in all_jobs if j["state"] == "finished" and j["id"] not in known
                and (j.get("result") or {}).get("labels") == labels and not (j.get("result") or {}).get("skipped")]
        if done and not busy:
            return done[-1]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no finished refresh for {labels} labels within {timeout:.0f} s: {all_jobs[-3:]}")
        time.sleep(0.5)


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "backend", "modelpicker_core"], cwd=REPO_ROOT,
                               capture_output=True, text=True).stdout.strip()
        return commit + (" (backend/core modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="modelpicker-large-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work directory {work}", flush=True)
    t0 = time.perf_counter()
    data = make_data(work / "pool", args.tasks, args.candidates, args.classes, args.seed)
    data_seconds = time.perf_counter() - t0
    result: dict = {"benchmark": "large_project", "commit": git_commit(), "tasks": args.tasks,
                    "candidates": args.candidates, "classes": args.classes, "seed": args.seed,
                    "strategy": "certified", "push_limit": PUSH_LIMIT, "priority_grace_seconds": args.grace,
                    "web_workers": args.web_workers or "default",
                    "label_studio": labelstudio.LS_VERSION, "candidate_accuracy_best": data["accuracy"][0],
                    "candidate_accuracy_others_range": [min(data["accuracy"][1:]), max(data["accuracy"][1:])],
                    "realised_accuracy_first3": data["realised_accuracy_first3"],
                    "prediction_files_seconds": round(data_seconds, 1),
                    "prediction_files_mb": round(sum(p.stat().st_size for p in (work / "pool").iterdir()) / 2**20, 1)}
    load_before = os.getloadavg()
    with postgres_server(PG_PORTS) as pg_url, redis_server(REDIS_PORTS, work) as redis_url:
        ls_db, store_db = create_database(pg_url, "label_studio"), create_database(pg_url, "modelpicker")
        print("starting Label Studio on PostgreSQL ...", flush=True)
        ls_env = {} if args.legacy_prediction_import else labelstudio.EFFICIENT_PREDICTION_IMPORT
        result["label_studio_env"] = dict(ls_env)
        with labelstudio.start_label_studio(port_range=LS_PORTS, database_url=ls_db, extra_env=ls_env,
                                            work_dir=work / "label-studio") as ls:
            result["label_studio_start_seconds"] = round(ls.start_seconds, 1)
            stack = real_stack.Stack(work_dir=work, pool=data["pool"], ls_url=ls.url, ls_token=ls.personal_token,
                                     redis_url=redis_url, port_range=BACKEND_PORTS, extra_env={
                                         "DATABASE_URL": store_db, "MODELPICKER_SEED": str(args.seed),
                                         "MODELPICKER_PUSH_LIMIT": str(PUSH_LIMIT),
                                         "MODELPICKER_REFRESH_EVERY_LABELS": "1",
                                         "MODELPICKER_PRIORITY_GRACE_SECONDS": str(args.grace),
                                         **({"MODELPICKER_WORKERS": str(args.web_workers)}
                                            if args.web_workers else {})})
            try:
                run(args, data, ls, stack, store_db, result)
            except (Exception, KeyboardInterrupt) as exc:  # the figures so far are still written, with what went wrong
                result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
                print(f"FAILED: {result['error']}", flush=True)
            finally:
                stack.stop()
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    result["command"] = "python benchmarks/large_project.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                         "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                         "load_average_1_5_15_before": [round(x, 2) for x in load_before],
                         "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()]}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if "error" in result:
        print(f"wrote {out} (partial: {result['error'][:200]})")
        return 1
    print_summary(result)
    print(f"wrote {out}")
    return 0


def checkpoint(args: argparse.Namespace, result: dict) -> None:
    """The figures so far, marked partial (a run stopped midway keeps them)."""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**result, "partial": True}, indent=2) + "\n")


def run(args: argparse.Namespace, data: dict, ls, stack: real_stack.Stack, store_db: str, result: dict) -> None:
    t = time.perf_counter()
    stack.start_backend(timeout=600)
    result["backend_start_seconds"] = round(time.perf_counter() - t, 1)
    stack.start_worker()
    memory = MemorySampler(stack.backend.pid, stack.worker.pid)
    memory.start()

    project = int(ls.api("POST", "/api/projects/",
                         json={"title": "large project", "label_config": data["config"]})["id"])
    result["project"] = project
    result["mode"] = "bulk_cache" if args.bulk_cache else "backend_computes"
    if not args.bulk_cache:
        connect(ls, stack, project)

    # 1. import
    tasks = [{"data": {"key": k}} for k in data["keys"]]
    import_start = time.time()
    chunk_seconds = []
    with tqdm(total=len(tasks), desc="import into Label Studio", unit="task") as bar:
        for i in range(0, len(tasks), args.import_chunk):
            c0 = time.perf_counter()
            ls.api("POST", f"/api/projects/{project}/import", json=tasks[i:i + args.import_chunk], timeout=1800)
            chunk_seconds.append(round(time.perf_counter() - c0, 2))
            bar.update(len(tasks[i:i + args.import_chunk]))
    import_end = time.time()
    counted = ls.api("GET", f"/api/projects/{project}/")["task_number"]
    result["import"] = {"seconds": round(import_end - import_start, 1), "chunk_size": args.import_chunk,
                        "chunk_seconds": chunk_seconds, "tasks_in_label_studio": counted,
                        "tasks_per_second": round(len(tasks) / (import_end - import_start), 1)}
    print(f"imported {counted} tasks in {import_end - import_start:.1f} s", flush=True)
    checkpoint(args, result)

    if args.bulk_cache:
        result["bulk_cache"], ls_tasks = bulk_cache(ls, stack, project, data, store_db)
        import_start = time.time()  # the backend's work starts with the announcement
        # Label Studio's ML form gives /setup 3 s, and /setup fits the belief over the cached answers (19 s at
        # 10 million): the connection is made as the form would make it, with a patient /setup
        t = time.perf_counter()
        r = stack.session.post(stack.url + "/setup", json={"project": f"{project}.{int(time.time())}",
                                                           "schema": data["config"]}, timeout=600)
        r.raise_for_status()
        result["bulk_cache"]["setup_seconds_with_cache_filled"] = round(time.perf_counter() - t, 1)
        ls.api("POST", "/api/webhooks/", json={
            "project": project, "url": stack.url + "/webhook", "send_payload": True, "send_for_all_actions": True,
            "headers": {"Authorization": real_stack.basic_auth()}, "is_active": True})
        announce(ls, stack, project, ls_tasks)
        checkpoint(args, result)
        result["bulk_cache"]["announce_seconds"] = round(time.time() - import_start, 1)
        import_end = time.time()

    # 2. the first computation: every task confirmed, every candidate's answer cached, the first refresh
    expected = args.tasks * args.candidates
    cached_at = None
    figures = {}
    what, total, field = (("tasks confirmed", args.tasks, "tasks") if args.bulk_cache
                          else ("candidates' answers cached", expected, "prediction_rows"))
    with tqdm(total=total, desc=what, unit="row", unit_scale=True) as bar:
        deadline = time.monotonic() + args.timeout
        while True:
            figures = store_figures(store_db, project)
            bar.update(figures[field] - bar.n)
            if figures[field] >= total and figures["prediction_rows"] >= expected:
                cached_at = time.time()
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"predictions not cached within {args.timeout:.0f} s: {figures}")
            time.sleep(5.0 if args.bulk_cache else 2.0)
    first = wait_refreshed(stack, project, 0, args.timeout, set())
    first_done = _ts(first["finished_at"])
    figures = store_figures(store_db, project)
    confirm = [j for j in jobs(stack, project) if j["kind"] != "refresh"]
    result["first_computation"] = {
        "seconds_from_import_start_to_all_cached": round(cached_at - import_start, 1),
        "seconds_from_import_end_to_all_cached": round(cached_at - import_end, 1),
        "seconds_from_import_start_to_first_refresh_finished": round(first_done - import_start, 1),
        "expected_rows": expected, **figures,
        "other_jobs": {kind: sum(1 for j in confirm if j["kind"] == kind) for kind in {j["kind"] for j in confirm}},
        "first_refresh": {"labels": first["result"]["labels"], "pushed": first["result"]["pushed"],
                          "model_version": first["result"]["model_version"], "seconds": step_seconds(first)}}
    print(f"all {expected} answers cached {cached_at - import_end:.1f} s after the import; store "
          f"{figures['database_mb']} MB", flush=True)
    checkpoint(args, result)

    # 3. idle memory, then one label and its refresh
    time.sleep(5.0)
    idle_since = time.time()
    time.sleep(5.0)
    result["memory_idle_mb"] = memory.peak(idle_since)
    known = {j["id"] for j in refresh_jobs(stack, project)}
    label_start = time.time()
    task = ls.api("GET", f"/api/projects/{project}/next/")
    ls.api("POST", f"/api/tasks/{task['id']}/annotations/",
           json={"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                             "value": {"choices": [data["truth"][task["data"]["key"]]]}}], "lead_time": 1.0})
    one = wait_refreshed(stack, project, 1, args.timeout, known)
    label_done = time.time()
    served = ls.api("GET", f"/api/projects/{project}/")
    result["one_label_refresh"] = {
        "seconds_from_label_to_refresh_finished": round(label_done - label_start, 2),
        "pushed": one["result"]["pushed"], "deleted": one["result"]["deleted"],
        "model_version": one["result"]["model_version"], "queue_follows": served["model_version"],
        "seconds": step_seconds(one), "memory_peak_mb": memory.peak(label_start, label_done)}
    print(f"one label -> refresh finished in {label_done - label_start:.1f} s: {step_seconds(one)}", flush=True)
    checkpoint(args, result)

    # 4. the annotator while refreshes run
    known = {j["id"] for j in refresh_jobs(stack, project)}
    annotator = Annotator(ls.url, ls.token, project, data["truth"], args.think)
    phase_start = time.time()
    annotator.start()
    for _ in tqdm(range(int(args.annotate_seconds)), desc="annotator at work", unit="s"):
        time.sleep(1.0)
    annotator.stop()
    phase_end = time.time()
    # wait for the refreshes the last labels triggered, so their windows are known
    drain_deadline = time.monotonic() + args.timeout
    while any(j["state"] in ("queued", "started") for j in refresh_jobs(stack, project)):
        if time.monotonic() > drain_deadline:
            break
        time.sleep(0.5)
    drained = time.time()
    phase_jobs = [j for j in refresh_jobs(stack, project) if j["id"] not in known]
    windows = [(_ts(j["started_at"]), _ts(j["finished_at"]) or drained) for j in phase_jobs if j["started_at"]]
    overlaps = lambda r: any(r[2] <= w1 and r[3] >= w0 for w0, w1 in windows)  # noqa: E731
    nexts = [r for r in annotator.requests if r[0] == "next"]
    submits = [r for r in annotator.requests if r[0] == "submit"]
    finished = [j for j in phase_jobs if j["state"] == "finished" and not (j.get("result") or {}).get("skipped")]
    steps = {}
    for job in finished:
        for k, v in step_seconds(job).items():
            steps.setdefault(k, []).append(v)
    busy = sum(min(w1, phase_end) - max(w0, phase_start) for w0, w1 in windows if w1 > phase_start and w0 < phase_end)
    result["annotator"] = {
        "seconds": round(phase_end - phase_start, 1), "think_seconds": args.think, "labels": annotator.labels,
        "next_all": latency_summary(nexts), "next_during_refresh": latency_summary([r for r in nexts if overlaps(r)]),
        "next_requests": [{"at_s": round(r[2] - phase_start, 2), "ms": round((r[3] - r[2]) * 1000, 1),
                           "status": r[1], "during_refresh": overlaps(r)} for r in nexts],
        "submit_all": latency_summary(submits),
        "submit_during_refresh": latency_summary([r for r in submits if overlaps(r)]),
        "refresh_jobs": len(phase_jobs), "refreshes_finished": len(finished),
        "refreshes_failed": sum(1 for j in phase_jobs if j["state"] == "failed"),
        "share_of_time_a_refresh_ran": round(busy / (phase_end - phase_start), 3),
        "refresh_step_seconds_median": {k: round(float(np.median(v)), 3) for k, v in steps.items()},
        "refresh_step_seconds_max": {k: round(float(np.max(v)), 3) for k, v in steps.items()},
        "memory_peak_mb": memory.peak(phase_start, drained)}
    ranking = stack.session.get(stack.url + "/rankings", params={"project": project}, timeout=60).json()
    result["ranking_top"] = [{"name": c["name"], "p_best": c.get("p_best")} for c in ranking["candidates"][:3]]
    result["labels_in_backend"] = ranking["labels"]
    memory.stop()
    result["memory_hwm_mb"] = memory.hwm()
    result["memory_peak_whole_run_mb"] = memory.peak(0)


def connect(ls, stack: real_stack.Stack, project: int) -> None:
    """Label Studio's ML form with basic auth (it calls /setup and makes the webhook); the webhook gets the header."""
    ls.api("POST", "/api/ml/", json={"project": project, "url": stack.url, "title": "ModelPicker",
                                     "auth_method": "BASIC_AUTH", "basic_auth_user": real_stack.USER,
                                     "basic_auth_pass": real_stack.PASSWORD}, timeout=600)
    hooks = ls.api("GET", "/api/webhooks/", params={"project": project})
    hooks = hooks.get("results", hooks) if isinstance(hooks, dict) else hooks
    for hook in hooks:
        if hook["url"].rstrip("/") == stack.url + "/webhook":
            ls.api("PATCH", f"/api/webhooks/{hook['id']}/",
                   json={"headers": {"Authorization": real_stack.basic_auth()}})


def label_studio_tasks(ls, project: int) -> list[dict]:
    return ls.api("GET", f"/api/projects/{project}/export", params={"exportType": "JSON",
                                                                    "download_all_tasks": "true"}, timeout=1800)


def task_ids_in_import_order(ls, project: int, keys: list[str], checks: int = 50) -> list[dict]:
    """``[{"id", "data"}]`` of the project's tasks without the full export (279 s at 100,000 tasks): Label Studio
    gives a fresh project's imported tasks consecutive ids in import order; the first id is read, and ``checks``
    seeded tasks (the last included) are read back one by one and must hold the expected key."""
    listing = ls.api("GET", "/api/tasks/", params={"project": project, "page": 1, "page_size": 1})
    rows = listing["tasks"] if isinstance(listing, dict) else listing
    first = int(rows[0]["id"])
    tasks = [{"id": first + i, "data": {"key": k}} for i, k in enumerate(keys)]
    rng = np.random.default_rng(1)
    for i in {0, len(keys) - 1, *rng.integers(0, len(keys), checks).tolist()}:
        got = ls.api("GET", f"/api/tasks/{tasks[i]['id']}/")
        if got["data"].get("key") != keys[i] or int(got["project"]) != project:
            raise RuntimeError(f"task {tasks[i]['id']} holds {got['data']}, expected key {keys[i]}: ids are not "
                               "consecutive in import order")
    return tasks


def bulk_cache(ls, stack: real_stack.Stack, project: int, data: dict, store_db: str) -> tuple[dict, list[dict]]:
    """Every candidate's answer for every task, computed with the pool's own code (``predict_tasks``) and
    written into the store's ``predictions`` table with one COPY (the backend's schema, its cache keys)."""
    import psycopg

    from backend.labelconfig import parse_choices
    from backend.pool.loading import load_pool

    t0 = time.perf_counter()
    tasks = task_ids_in_import_order(ls, project, data["keys"])
    read = time.perf_counter() - t0
    t0 = time.perf_counter()
    pool = load_pool(data["pool"])
    loaded = time.perf_counter() - t0
    choices = parse_choices(data["config"])
    t0 = time.perf_counter()
    rows = 0
    with psycopg.connect(store_db) as db, db.cursor() as cur:
        with cur.copy("COPY predictions (project, task, candidate, choice) FROM STDIN") as copy:
            for cand in tqdm(pool.candidates, desc="bulk cache (COPY)", unit="candidate"):
                for task, choice in zip(tasks, cand.predict_tasks(tasks, choices)):
                    copy.write_row((project, task["id"], cand.cache_key, choice))
                    rows += 1
    copied = time.perf_counter() - t0
    del pool
    return {"task_ids_seconds": round(read, 1), "load_pool_seconds": round(loaded, 1),
            "copy_seconds": round(copied, 1), "rows": rows, "rows_per_second": round(rows / copied)}, tasks


def announce(ls, stack: real_stack.Stack, project: int, tasks: list[dict], per_webhook: int = 10_000) -> None:
    """``TASKS_CREATED`` for ``tasks``, the body Label Studio sends on an import (``per_webhook`` tasks each)."""
    described = ls.api("GET", f"/api/projects/{project}/")
    tasks = sorted(tasks, key=lambda t: t["id"])
    for i in range(0, len(tasks), per_webhook):
        body = {"action": "TASKS_CREATED", "project": described,
                "tasks": [{"id": t["id"], "data": t["data"], "project": project} for t in tasks[i:i + per_webhook]]}
        stack.session.post(stack.url + "/webhook", json=body, timeout=600).raise_for_status()


def print_summary(r: dict) -> None:
    print(f"\n{r['tasks']} tasks, {r['candidates']} candidates, {r['classes']} classes, seed {r['seed']}, "
          f"Label Studio {r['label_studio']} and the store on PostgreSQL, commit {r['commit']}")
    print(f"import: {r['import']['seconds']} s ({r['import']['tasks_per_second']} tasks/s)")
    fc = r["first_computation"]
    print(f"first computation: all {fc['prediction_rows']} answers cached {fc['seconds_from_import_end_to_all_cached']}"
          f" s after the import ({fc['seconds_from_import_start_to_all_cached']} s from its start); store "
          f"{fc['database_mb']} MB (predictions {fc['predictions_table_mb']} MB); first refresh "
          f"{fc['first_refresh']['seconds']}")
    one = r["one_label_refresh"]
    print(f"one label -> refresh finished {one['seconds_from_label_to_refresh_finished']} s; steps {one['seconds']}")
    a = r["annotator"]
    print(f"annotator {a['seconds']} s, {a['labels']} labels, {a['refreshes_finished']} refreshes "
          f"(a refresh ran {a['share_of_time_a_refresh_ran']:.0%} of the time)")
    for key in ("next_all", "next_during_refresh", "submit_all", "submit_during_refresh"):
        s = a[key]
        print(f"  {key:<22} n={s['requests']:<4} failed={s['failed']} p50={s['p50_ms']} ms p99={s['p99_ms']} ms "
              f"max={s['max_ms']} ms")
    print(f"  refresh steps median {a['refresh_step_seconds_median']}")
    print(f"memory idle {r['memory_idle_mb']}")
    print(f"memory peak (one refresh) {one['memory_peak_mb']}")
    print(f"memory peak (annotator phase) {a['memory_peak_mb']}")
    print(f"memory VmHWM at the end {r['memory_hwm_mb']}")


if __name__ == "__main__":
    sys.exit(main())
