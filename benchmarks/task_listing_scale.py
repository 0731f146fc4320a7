"""How long the periodic sync's listing of every task takes Label Studio on a large project, per page size.

Usage (from the repository root; Label Studio 1.23.2 in its own venv, see ``make ls-venv``)::

    flock /tmp/ls-e2e.lock .venv/bin/python benchmarks/task_listing_scale.py --tasks 100000 --database postgres

The periodic sync (``backend/sync.py``) lists every task's id and flag to find tasks no webhook announced
(:meth:`backend.labelstudio_tasks.TaskCalls.task_ids`).  Label Studio 1.23.2's task list recomputes the
project's annotation and prediction totals for every page, so the page size sets how often that is done.
This starts a throw-away Label Studio (its SQLite file, or ``--database postgres``: a PostgreSQL cluster of
its own), imports ``--tasks`` tasks (10,000 a request), then lists them with each ``--page-sizes`` value
while ``--annotators`` annotators ask ``GET /next/`` (closed loop, ``--probe-interval`` seconds after each
answer), and prints the listing's seconds and the annotators' latency p50 / p99 during it.  Results:
``--out`` (JSON).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from backend.labelstudio_api import LabelStudioAPI  # noqa: E402
from benchmarks.backend_push import NextTaskProbe  # noqa: E402
from benchmarks.stop_queue_scale import CONFIG, IMPORT_CHUNK, throw_away_label_studio  # noqa: E402
from tests.support import labelstudio  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--page-sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--annotators", type=int, default=2)
    parser.add_argument("--probe-interval", type=float, default=1.0)
    parser.add_argument("--out", default=None,
                        help="JSON results (default benchmarks/results/task_listing_<database>_<tasks>.json)")
    args = parser.parse_args(argv)
    if args.tasks < 1 or min(args.page_sizes) < 1 or args.annotators < 0:
        parser.error("need --tasks >= 1, every --page-sizes value >= 1 and --annotators >= 0")
    if args.out is None:
        args.out = str(REPO_ROOT / "benchmarks" / "results" / f"task_listing_{args.database}_{args.tasks}.json")
    return args


def measure(server, args: argparse.Namespace) -> dict:
    project = server.api("POST", "/api/projects", json={"title": "listing at scale", "label_config": CONFIG})["id"]
    for first in range(0, args.tasks, IMPORT_CHUNK):
        server.api("POST", f"/api/projects/{project}/import",
                   json=[{"text": f"task {i}"} for i in range(first, min(args.tasks, first + IMPORT_CHUNK))])
    api = LabelStudioAPI(server.url, server.token, timeout=1800)
    rows = []
    for size in args.page_sizes:
        probes = [NextTaskProbe(server.url, server.token, project, args.probe_interval, closed_loop=True)
                  for _ in range(args.annotators)]
        for probe in probes:
            probe.start()
        start = time.perf_counter()
        listed = api.task_ids(project, page_size=size)
        window = (start, time.perf_counter())
        for probe in probes:
            probe.stop()
        merged = NextTaskProbe(server.url, server.token, project, args.probe_interval)
        merged.results = [r for probe in probes for r in probe.results]
        rows.append({"page_size": size, "tasks_listed": len(listed), "seconds": round(window[1] - window[0], 2),
                     "next_during": merged.summary(window) if merged.results else None})
        print(f"page size {size}: {len(listed)} tasks in {rows[-1]['seconds']} s; annotators' /next/ "
              f"{rows[-1]['next_during']}", flush=True)
    return {"benchmark": "task_listing_scale", "label_studio": labelstudio.LS_VERSION, "database": args.database,
            "tasks": args.tasks, "annotators": args.annotators, "probe_interval": args.probe_interval,
            "machine": platform.platform(), "listings": rows}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with throw_away_label_studio(args.database) as server:
        result = measure(server, args)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
