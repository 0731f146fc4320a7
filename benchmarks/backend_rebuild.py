"""How long the backend takes to answer a webhook and a /predict when the belief is rebuilt each time.

The belief is replayed from the stored labels whenever they change; this
script measures that design at a given size, through the Flask test client
(no network), with a synthetic predictions-file pool.

Usage::

    python benchmarks/backend_rebuild.py --tasks 5000 --models 10 --labels 300 --strategy modelpicker

Prints one line per measurement (median of ``--repeat`` runs).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from backend.app import create_app
from backend.service import Service
from backend.settings import from_env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--labels", type=int, default=300)
    ap.add_argument("--strategy", default="modelpicker")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if min(args.tasks, args.models, args.repeat) < 1 or args.classes < 2 or not 0 <= args.labels < args.tasks:
        ap.error("need tasks, models, repeat >= 1, classes >= 2 and 0 <= labels < tasks")

    rng = np.random.default_rng(args.seed)
    truth = rng.integers(0, args.classes, args.tasks)
    choices = [f"c{k}" for k in range(args.classes)]
    config = ('<View><Text name="t" value="$key"/><Choices name="label" toName="t">'
              + "".join(f'<Choice value="{c}"/>' for c in choices) + "</Choices></View>")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lines = ["data_field: key", "candidates:"]
        for m in range(args.models):
            noisy = np.where(rng.random(args.tasks) < 0.5 + 0.4 * m / args.models, truth,
                             rng.integers(0, args.classes, args.tasks))
            (tmp / f"m{m}.csv").write_text("key,label\n" + "".join(f"k{i},{choices[v]}\n" for i, v in enumerate(noisy)))
            lines += [f"  - name: m{m}", f"    source: {{type: predictions, path: m{m}.csv}}"]
        (tmp / "pool.yaml").write_text("\n".join(lines) + "\n")
        settings = from_env({"MODEL_DIR": str(tmp / "state"), "MODELPICKER_POOL": str(tmp / "pool.yaml"),
                             "MODELPICKER_STRATEGY": args.strategy, "MODELPICKER_SEED": str(args.seed)})
        client = create_app(settings, Service.from_settings(settings)).test_client()
        project = {"id": 1, "label_config": config}
        client.post("/setup", json={"project": 1, "schema": config})
        tasks = [{"id": i + 1, "data": {"key": f"k{i}"}} for i in range(args.tasks)]
        t0 = time.perf_counter()
        client.post("/webhook", json={"action": "TASKS_CREATED", "project": project, "tasks": tasks})
        print(f"TASKS_CREATED with {args.tasks} tasks x {args.models} candidates: "
              f"{time.perf_counter() - t0:.2f} s (predictions computed and cached)")

        def annotate(i: int) -> float:
            body = {"action": "ANNOTATION_CREATED", "project": project, "task": tasks[i],
                    "annotation": {"id": i + 1, "task": i + 1, "result": [
                        {"from_name": "label", "value": {"choices": [choices[truth[i]]]}}]}}
            t = time.perf_counter()
            r = client.post("/webhook", json=body)
            assert r.status_code == 200, r.get_json()
            return time.perf_counter() - t

        for i in range(args.labels):
            annotate(i)
        webhook = [annotate(args.labels + k) for k in range(args.repeat)]
        predict = []
        for k in range(args.repeat):
            annotate(args.labels + args.repeat + k)  # the belief changed: /predict rebuilds it
            t = time.perf_counter()
            r = client.post("/predict", json={"project": 1, "tasks": tasks[-100:]})
            assert r.status_code == 200, r.get_json()
            predict.append(time.perf_counter() - t)
        rankings = client.get("/rankings?project=1").get_json()
        print(f"strategy={args.strategy} labels~{args.labels}: ANNOTATION_CREATED round trip (store + rebuild) "
              f"median {1000 * statistics.median(webhook):.1f} ms; /predict of 100 tasks after a label "
              f"median {1000 * statistics.median(predict):.1f} ms")
        print("best:", json.dumps(rankings["candidates"][0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
