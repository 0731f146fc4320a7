"""Time of one selection step of the certified strategy, and of its certificate update alone.

Usage::

    python benchmarks/certified_step_time.py                     # 10,000 items x 100 models x 10 classes
    python benchmarks/certified_step_time.py --items 1000 10000 --models 10 100 \\
        --out benchmarks/results/certified_step_time.json
    python benchmarks/certified_step_time.py --profile           # cProfile of the timed steps

A step is what the labelling loop does per label: take the label
(``observe``: certificate, guide and belief), read the pick and
P(best) (``best``, ``p_top``) and draw the next item (``select``).  The
certificate update (``GapCertificate.observe`` of the drawn label, with its
recorded draw) is timed separately, inside the same steps.  Same synthetic
pool as ``benchmarks/step_time.py`` (its ``pool``); median and p90 over
``--steps`` steps after ``--warmup`` labels.  ``cpu ms`` is this process's CPU
time, which other load on the machine does not inflate.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import cProfile
import itertools
import json
import pstats
import time

import numpy as np

from benchmarks.step_time import step_parser, timed_steps, write_rows
from modelpicker_core.certificate import GapCertificate


class TimedCertificate(GapCertificate):
    """A certificate that records the wall and CPU time of each ``observe``."""

    def observe(self, item, label, draw=None):
        t0, c0 = time.perf_counter(), time.process_time()
        super().observe(item, label, draw)
        self.times = getattr(self, "times", []) + [(time.perf_counter() - t0, time.process_time() - c0)]


def time_steps(n_items, n_models, n_classes, steps, warmup, seed, params, profile=False):
    def timed_certificate(strategy):
        strategy.certificate_ = TimedCertificate(strategy.pool_, strategy.delta)

    prof = cProfile.Profile() if profile else None
    s, setup, times, cpu = timed_steps("certified", n_items, n_models, n_classes, seed, params, steps, warmup,
                                       read=lambda s: (s.best(), s.p_top()), prepare=timed_certificate, profile=prof)
    if prof is not None:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    cert = s.certificate_  # set_pool (not called again) is the only other writer of certificate_
    cert_wall = np.array([w for w, _ in cert.times[warmup:]])
    cert_cpu = np.array([c for _, c in cert.times[warmup:]])
    return {"items": n_items, "models": n_models, "classes": n_classes, "set_pool_ms": round(setup * 1e3, 1),
            "step_ms_median": round(float(np.median(times)) * 1e3, 1),
            "step_ms_p90": round(float(np.percentile(times, 90)) * 1e3, 1),
            "step_cpu_ms_median": round(float(np.median(cpu)) * 1e3, 1),
            "certificate_ms_median": round(float(np.median(cert_wall)) * 1e3, 2),
            "certificate_ms_p90": round(float(np.percentile(cert_wall, 90)) * 1e3, 2),
            "certificate_cpu_ms_median": round(float(np.median(cert_cpu)) * 1e3, 2),
            "steps": steps,
            "load_average_1min": round(os.getloadavg()[0], 2)}


def main(argv=None) -> int:
    args = step_parser(__doc__, "JSON dict of certified parameters", profile=True).parse_args(argv)
    rows = []
    print(f"{'items':>7} {'models':>7} {'classes':>8} {'set_pool ms':>12} {'step ms':>8} {'p90':>7} {'cpu ms':>7} "
          f"{'cert ms':>8} {'p90':>6} {'load':>5}")
    for n, m, k in itertools.product(args.items, args.models, args.classes):
        row = time_steps(n, m, k, args.steps, args.warmup, args.seed, json.loads(args.params), args.profile)
        rows.append(row)
        print(f"{n:>7} {m:>7} {k:>8} {row['set_pool_ms']:>12} {row['step_ms_median']:>8} {row['step_ms_p90']:>7} "
              f"{row['step_cpu_ms_median']:>7} {row['certificate_ms_median']:>8} {row['certificate_ms_p90']:>6} "
              f"{row['load_average_1min']:>5}", flush=True)
    if args.out:
        write_rows(args.out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
