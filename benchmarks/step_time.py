"""Time of one selection step of the consensus strategy (observe + select + P(best)).

Usage::

    python benchmarks/step_time.py                       # 10,000 items x 100 models x 10 classes
    python benchmarks/step_time.py --items 1000 10000 --models 10 100 --classes 10 \\
        --out benchmarks/results/step_time.json

Wall time depends on what else runs on the machine; the CPU time of this
process (``cpu ms``) does not, and the 1-minute load average is recorded with
each row.  A "step" is what the labelling loop does per label: take the label
(``observe``), recompute the belief (P(best), Monte Carlo), and pick the next
item (``select``).  The pool is synthetic (``modelpicker_core.synth``, the
many-models preset's error structure); the median over ``--steps`` steps after
``--warmup`` labels is reported.
"""
from __future__ import annotations

import os

# One BLAS thread per process: the matrices are small and the runs use worker
# processes, so multi-threaded BLAS only oversubscribes the cores.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np

from modelpicker_core import registry
from modelpicker_core.synth import SynthSpec, generate


def pool(n_items: int, n_models: int, n_classes: int, seed: int):
    acc = np.concatenate([[0.80, 0.78], np.linspace(0.76, 0.55, max(n_models - 2, 0))])[:n_models]
    spec = SynthSpec("timing", n_items, n_classes, np.repeat(acc[:, None], n_classes, axis=1),
                     n_plausible=min(3, n_classes - 1))
    col = generate(spec, seed=seed)
    return col.predictions, col.labels


def timed_steps(name, n_items, n_models, n_classes, seed, params, steps, warmup, read, prepare=None, profile=None):
    """Strategy ``name`` on the synthetic :func:`pool`, timed over ``steps`` steps after ``warmup`` labels.

    A step is ``observe`` of the drawn label, ``read(strategy)`` (what the loop reads after each label)
    and ``select`` of the next item.  ``prepare(strategy)`` runs after ``set_pool``, before the first
    draw; ``profile`` (a ``cProfile.Profile``) is enabled over the timed steps.  Returns the strategy,
    the ``set_pool`` seconds and the wall and CPU seconds of each timed step.
    """
    preds, labels = pool(n_items, n_models, n_classes, seed)
    s = registry.make(name, n_models, n_classes, random_state=seed, **params)
    t0 = time.perf_counter()
    s.set_pool(preds)
    setup = time.perf_counter() - t0
    if prepare is not None:
        prepare(s)
    unlabelled = np.ones(n_items, dtype=bool)
    times, cpu = [], []
    i = s.select(preds, None, candidates=unlabelled)
    for step in range(warmup + steps):
        if profile is not None and step == warmup:
            profile.enable()
        t0, c0 = time.perf_counter(), time.process_time()
        s.observe(preds[i], labels[i], item=i)
        unlabelled[i] = False
        read(s)
        i = s.select(preds, None, candidates=unlabelled)
        if step >= warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    if profile is not None:
        profile.disable()
    return s, setup, times, cpu


def time_steps(n_items, n_models, n_classes, steps, warmup, seed, params):
    s, setup, times, cpu = timed_steps("consensus", n_items, n_models, n_classes, seed, params, steps, warmup,
                                       read=lambda strategy: strategy.p_best())
    return {"items": n_items, "models": n_models, "classes": n_classes, "set_pool_ms": round(setup * 1e3, 1),
            "step_ms_median": round(float(np.median(times)) * 1e3, 1),
            "step_ms_p90": round(float(np.percentile(times, 90)) * 1e3, 1), "steps": steps,
            "step_cpu_ms_median": round(float(np.median(cpu)) * 1e3, 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "contenders_last": int(s._belief().draws.contenders.size)}


def main(argv=None) -> int:
    args = step_parser(__doc__, "JSON dict of strategy parameters").parse_args(argv)
    rows = []
    print(f"{'items':>7} {'models':>7} {'classes':>8} {'set_pool ms':>12} {'step ms (median)':>17} {'p90':>7} "
          f"{'cpu ms':>7} {'load':>5}")
    for n, m, k in itertools.product(args.items, args.models, args.classes):
        row = time_steps(n, m, k, args.steps, args.warmup, args.seed, json.loads(args.params))
        rows.append(row)
        print(f"{n:>7} {m:>7} {k:>8} {row['set_pool_ms']:>12} {row['step_ms_median']:>17} {row['step_ms_p90']:>7} "
              f"{row['step_cpu_ms_median']:>7} {row['load_average_1min']:>5}", flush=True)
    if args.out:
        write_rows(args.out, rows)
    return 0


def step_parser(doc: str, params_help: str, profile: bool = False) -> argparse.ArgumentParser:
    """The options of the step-timing scripts: sizes (each a list, every combination is timed), steps, seed,
    strategy parameters (``params_help``), ``--profile`` when ``profile``, and the JSON output."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, nargs="+", default=[10000])
    ap.add_argument("--models", type=int, nargs="+", default=[100])
    ap.add_argument("--classes", type=int, nargs="+", default=[10])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default="{}", help=params_help)
    if profile:
        ap.add_argument("--profile", action="store_true")
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    return ap


def write_rows(path: str, rows: list[dict]) -> None:
    """The timing rows as JSON at ``path``, with the machine and Python they were measured on."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                      "python": platform.python_version(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
