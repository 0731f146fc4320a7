"""Single-process microbenchmark of the webhook path (issue 11 item 3): parse, store, commit, enqueue, answer.

Builds the backend's Flask app in this process on a 3-candidate pool of ``--tasks`` tasks, with
``REDIS_URL`` pointing at a throw-away ``redis-server`` (no worker runs: jobs are only enqueued), and
posts ``--webhooks`` ``ANNOTATION_CREATED`` deliveries one after another through Flask's test client,
timing each (``time.perf_counter`` around the request).  Two modes:

* ``confirm``: ``LABEL_STUDIO_URL``/``LABEL_STUDIO_API_KEY`` set (an address nothing listens on: the
  webhook never calls Label Studio, the rq job would), so each webhook commits a hint and enqueues or
  coalesces one confirmation job;
* ``payload``: no Label Studio API: each webhook stores the label and enqueues a refresh (coalesced).

This measures the backend's own work per webhook, without HTTP parsing, a WSGI server or other
clients; the load test under gunicorn is ``benchmarks/load*`` (engineer H3).  Prints p50/p99/max in ms.

Usage::

    python benchmarks/webhook_microbench.py [--webhooks 2000] [--tasks 1000] [--mode confirm|payload|both]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

from tests.support.redis_server import redis_server

CHOICES = ("zero", "one", "two")
CONFIG = ('<View><Text name="text" value="$key"/><Choices name="label" toName="text">'
          + "".join(f'<Choice value="{c}"/>' for c in CHOICES) + "</Choices></View>")


def _pool(d: Path, n_tasks: int) -> Path:
    import random

    rng = random.Random(0)
    lines = ["data_field: key", "candidates:"]
    for name in ("a", "b", "c"):
        with open(d / f"{name}.jsonl", "w") as fh:
            fh.writelines(json.dumps({"key": f"k{i}", "label": rng.choice(CHOICES)}) + "\n" for i in range(n_tasks))
        lines += [f"  - name: {name}", f"    source: {{type: predictions, path: {name}.jsonl}}"]
    (d / "pool.yaml").write_text("\n".join(lines) + "\n")
    return d / "pool.yaml"


def run(mode: str, n_webhooks: int, n_tasks: int, redis_url: str, work: Path) -> dict:
    from backend.app import create_app
    from backend.settings import from_env

    env = {"MODEL_DIR": str(work / f"model_dir_{mode}"), "MODELPICKER_POOL": str(_pool(work, n_tasks)),
           "REDIS_URL": redis_url, "MODELPICKER_ALLOW_UNAUTHENTICATED": "true"}
    if mode == "confirm":
        env.update(LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="not-used-by-the-webhook",
                   MODELPICKER_WRITEBACK="false")
    for key in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "BASIC_AUTH_USER", "BASIC_AUTH_PASS"):
        os.environ.pop(key, None)
    os.environ.update(env)
    app = create_app(from_env())
    client = app.test_client()
    project = {"id": 1, "title": "bench", "label_config": CONFIG}
    assert client.post("/setup", json={"project": 1, "schema": CONFIG}).status_code == 200
    from backend.app import current_service

    service = current_service()
    # the tasks are known to the backend (what the TASKS_CREATED confirmation would have stored)
    service.store.upsert_tasks(1, [(t, {"key": f"k{t - 1}"}) for t in range(1, n_tasks + 1)])
    times = []
    for i in range(n_webhooks):
        task = 1 + i % n_tasks
        body = {"action": "ANNOTATION_CREATED", "project": project,
                "task": {"id": task, "data": {"key": f"k{task - 1}"}},
                "annotation": {"id": 10_000 + i, "task": task, "updated_at": "2026-12-01T10:00:00Z",
                               "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                           "value": {"choices": [CHOICES[i % 3]]}}]}}
        t0 = time.perf_counter()
        response = client.post("/webhook", json=body)
        times.append(time.perf_counter() - t0)
        assert response.status_code == 200, response.get_json()
    times.sort()
    ms = [t * 1000 for t in times]
    return {"mode": mode, "webhooks": n_webhooks, "tasks": n_tasks,
            "p50_ms": round(statistics.median(ms), 2), "p99_ms": round(ms[int(0.99 * len(ms)) - 1], 2),
            "max_ms": round(ms[-1], 2), "last_answer": response.get_json()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--mode", choices=("confirm", "payload", "both"), default="both")
    args = parser.parse_args()
    modes = ("confirm", "payload") if args.mode == "both" else (args.mode,)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with redis_server((19150, 19200), work) as url:
            for mode in modes:
                print(json.dumps(run(mode, args.webhooks, args.tasks, url, work)))


if __name__ == "__main__":
    main()
