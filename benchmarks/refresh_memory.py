"""Peak memory of the backend's refresh job, step by step, on a large seeded project (no Label Studio).

Usage (from the repository root)::

    .venv/bin/python benchmarks/refresh_memory.py                      # 20,000 tasks x 100 candidates x 10 classes
    .venv/bin/python benchmarks/refresh_memory.py --tasks 100000 --labels 5

Builds, in a temporary directory, a pool of ``--models`` prediction files (CSV, seeded: candidate 0 right on
85% of the tasks, the others on a uniform 30-80%), a SQLite store with ``--tasks`` tasks whose candidates'
answers are already cached (as the first computation leaves them), and a :class:`~backend.service.Service`
built the way an rq worker builds its own (``inline=True``) with write-back on, talking to an in-process fake
of the few Label Studio calls a refresh makes.  Then it runs the refresh job (:meth:`Service.refresh`, the
function the rq worker calls) once without labels and once after each of ``--labels`` labels (the task the
belief serves first, answered with its true class), as in a labelling session.

Each refresh is split into its steps (matrix build, belief fit, decision, ranking, queue push, description,
clean-up ...); for each step the peak resident memory while it ran is read from ``VmHWM``, reset before the
step through ``/proc/self/clear_refs`` (Linux).  Printed per refresh: each step's peak (MB) and seconds, the
refresh's peak and the memory still held after it (``VmRSS``).  The data and the refreshes are seeded: the
versions and decisions printed are the same every run, the memory figures within a few MB.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROJECT = 1
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def status_mb(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process in MB (0 where /proc is missing)."""
    with contextlib.suppress(OSError):
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    return 0


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current resident size; False where the kernel does not allow it."""
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


class Steps:
    """Peak resident memory (MB) and seconds of each named step, the time between steps as ``(between)``."""

    def __init__(self):
        self.peaks: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.held: dict[str, int] = {}
        self.depth = 0

    def clear(self) -> None:
        self.peaks, self.seconds, self.held = {}, {}, {}
        reset_peak()

    def _note(self, name: str, peak: int, seconds: float, held: int = 0) -> None:
        self.peaks[name] = max(self.peaks.get(name, 0), peak)
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.held[name] = self.held.get(name, 0) + held

    def wrap(self, owner, attribute: str, name: str) -> None:
        """Measure every call of ``owner.attribute`` as step ``name`` (calls inside another step count there)."""
        inner = getattr(owner, attribute)

        @functools.wraps(inner)
        def measured(*args, **kwargs):
            if self.depth:
                return inner(*args, **kwargs)
            self._note("(between)", status_mb("VmHWM"), 0.0)
            reset_peak()
            self.depth += 1
            start, before = time.perf_counter(), status_mb("VmRSS")
            try:
                return inner(*args, **kwargs)
            finally:
                self.depth -= 1
                self._note(name, status_mb("VmHWM"), time.perf_counter() - start, status_mb("VmRSS") - before)
                reset_peak()

        setattr(owner, attribute, measured)


class FakeLabelStudio:
    """The Label Studio calls a refresh makes, answered in memory (priorities kept per version as counts)."""

    def __init__(self):
        self.versions: dict[str, int] = {}
        self.project = {"id": PROJECT, "description": "", "expert_instruction": "", "model_version": ""}

    def import_predictions(self, project, predictions):
        for p in predictions:
            self.versions[p["model_version"]] = self.versions.get(p["model_version"], 0) + 1
        return len(predictions)

    def set_queue_version(self, project, version):
        self.project["model_version"] = version

    def model_versions(self, project):
        return dict(self.versions)

    def delete_model_version(self, project, version):
        return self.versions.pop(version, 0)

    def get_project(self, project):
        return dict(self.project)

    def set_description(self, project, description):
        self.project["description"] = description

    def set_instruction(self, project, instruction, show):
        self.project["expert_instruction"] = instruction

    def task_ids(self, project):
        return {}

    def set_labeled(self, project, task_ids, labeled):
        return len(task_ids)


def synthetic(tasks: int, models: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(truth, predictions)``: ``(tasks,)`` true classes and ``(tasks, models)`` answers (seeded)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, tasks)
    accuracy = np.concatenate([[0.85], rng.uniform(0.3, 0.8, models - 1)])
    wrong = (truth[:, None] + rng.integers(1, classes, (tasks, models))) % classes
    return truth, np.where(rng.random((tasks, models)) < accuracy, truth[:, None], wrong)


def write_pool(folder: Path, predictions: np.ndarray) -> Path:
    """One CSV per candidate (``key,label``, the Choice value ``c<k>``) and the ``pool.yaml`` naming them."""
    lines = ["data_field: key", "candidates:"]
    for j in range(predictions.shape[1]):
        rows = "".join(f"k{i},c{c}\n" for i, c in enumerate(predictions[:, j].tolist()))
        (folder / f"m{j:03d}.csv").write_text("key,label\n" + rows)
        lines += [f"  - name: m{j:03d}", f"    source: {{type: predictions, path: m{j:03d}.csv}}"]
    (folder / "pool.yaml").write_text("\n".join(lines) + "\n")
    return folder / "pool.yaml"


def label_config(classes: int) -> str:
    choices = "".join(f'<Choice value="c{k}"/>' for k in range(classes))
    return f'<View><Text name="text" value="$key"/><Choices name="label" toName="text">{choices}</Choices></View>'


def build_service(folder: Path, args: argparse.Namespace, predictions: np.ndarray):
    """A worker-like service on a fresh SQLite store holding the tasks and every candidate's cached answer."""
    from backend.service import Service
    from backend.settings import from_env

    env = {"MODEL_DIR": str(folder / "model_dir"), "MODELPICKER_POOL": str(write_pool(folder, predictions)),
           "LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "fake-key-for-the-benchmark",
           "MODELPICKER_SEED": str(args.seed)}
    if args.strategy:
        env["MODELPICKER_STRATEGY"] = args.strategy
    service = Service.from_settings(from_env(env), inline=True)
    service._api = FakeLabelStudio()
    service.setup(PROJECT, label_config(args.classes))
    store, keys = service.store, service.pool.cache_keys
    for start in range(0, args.tasks, 5000):
        ids = range(start, min(start + 5000, args.tasks))
        store.upsert_tasks(PROJECT, [(i + 1, {"key": f"k{i}"}) for i in ids])
        store.save_predictions(PROJECT, [(i + 1, key, f"c{c}") for i in ids
                                         for key, c in zip(keys, predictions[i].tolist())])
    return service


def measure(service) -> Steps:
    """Wrap the refresh's steps (see the module's docstring) for measurement."""
    import backend.description_block as description_block

    steps, refresher = Steps(), service.refresher
    steps.wrap(refresher, "compute_predictions", "compute missing predictions")
    steps.wrap(refresher, "prediction_errors", "prediction errors")
    steps.wrap(service.beliefs, "round_matrix", "matrix build (store read)")
    steps.wrap(service.store, "labels", "labels read")
    steps.wrap(service.beliefs, "fit", "belief fit")
    steps.wrap(service.decider, "decide", "decide")
    steps.wrap(service.store, "add_belief_history", "belief history")
    steps.wrap(service.ranking_keeper, "keep", "ranking kept")
    steps.wrap(refresher, "_push_queue", "queue push")
    steps.wrap(description_block, "write_ranking", "description")
    steps.wrap(refresher, "_delete_superseded", "superseded deleted")
    steps.wrap(service.tracker, "after_refresh", "tracking")
    return steps


def report(title: str, result: dict, steps: Steps, seconds: float) -> int:
    """Print one refresh's steps; returns its peak (MB)."""
    steps._note("(between)", status_mb("VmHWM"), 0.0)
    peak = max(steps.peaks.values())
    decision = result.get("decision") or {}
    print(f"\n{title}: {result.get('state')}, {seconds:.1f} s, peak {peak} MB, held after {status_mb('VmRSS')} MB; "
          f"{result.get('model_version')}, pushed {result.get('pushed')}, decision "
          f"{'stop' if decision.get('stop') else 'continue'} {decision.get('candidate')}", flush=True)
    for name, mb in sorted(steps.peaks.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<30} peak {mb:>6} MB  held {steps.held.get(name, 0):+6d} MB  "
              f"{steps.seconds.get(name, 0.0):7.2f} s")
    return peak


def label_served_first(service, truth: np.ndarray, annotation: int) -> None:
    """Store a label for the task the current belief serves first, with its true class."""
    from backend.records import AnnotationVersion

    belief = service.beliefs._beliefs[PROJECT].belief
    row = belief.head
    if row is None:
        row = int(np.argsort(belief.priority, kind="stable")[0])
    task = int(belief.task_ids[row])
    service.store.apply_annotations(PROJECT, [AnnotationVersion(annotation, task, f"c{truth[task - 1]}",
                                                                1.7e9 + annotation)])


def run(args: argparse.Namespace) -> int:
    truth, predictions = synthetic(args.tasks, args.models, args.classes, args.seed)
    with tempfile.TemporaryDirectory(prefix="refresh-memory-") as tmp:
        service = build_service(Path(tmp), args, predictions)
        del predictions
        print(f"{args.tasks} tasks x {args.models} candidates x {args.classes} classes, strategy "
              f"{service.strategy}: store and pool ready, resident {status_mb('VmRSS')} MB "
              f"(peak so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB)", flush=True)
        if not reset_peak():
            print("(cannot reset VmHWM here: each step's peak is the peak so far)")
        steps, peaks = measure(service), []
        for k in range(args.labels + 1):
            if k:
                label_served_first(service, truth, k)
            steps.clear()
            start = time.perf_counter()
            result = service.refresh(PROJECT, force=True)
            peaks.append(report("refresh without labels" if k == 0 else f"refresh after label {k}", result, steps,
                                time.perf_counter() - start))
        service.store.close()
    print(f"\npeak of the refreshes {max(peaks)} MB (first {peaks[0]} MB, with labels {max(peaks[1:] or [0])} MB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--labels", type=int, default=5)
    parser.add_argument("--strategy", default=None, help="core strategy (default: the backend's default)")
    parser.add_argument("--seed", type=int, default=0)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
