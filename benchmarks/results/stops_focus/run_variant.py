"""One harness run of the certified strategy (or an anchor) with given parameters, one JSON line on stdout.

Used for docs/certified-stop.md "Certificate-directed guided draws" (see commands.sh beside it); runs in one
process (workers 1).
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks import run_all  # noqa: E402
from modelpicker_core.harness import BenchConfig, run_benchmark  # noqa: E402
from modelpicker_core.loaders import load_collection  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--coll", default="emocontext")
    ap.add_argument("--params", default="{}", help="the strategy's constructor parameters, JSON")
    ap.add_argument("--n", type=int, default=40, help="realisations")
    ap.add_argument("--horizon", type=int, default=160)
    ap.add_argument("--stop", type=int, default=1, help="1: run the certified stop (epsilon 0.01, delta 0.05)")
    ap.add_argument("--budgets", default="5,10,20,30,50,80")
    ap.add_argument("--strategy", default="certified")
    run_all.add_realisation_arguments(ap)
    a = ap.parse_args()
    col = load_collection(run_all.collection_dirs(a, [a.coll])[a.coll])
    params = json.loads(a.params)
    cfg = BenchConfig(setting="pool", strategies=[a.strategy], budgets=[int(b) for b in a.budgets.split(",")],
                      realizations=a.n, size=min(a.pool_size, col.n_items), seed=a.seed, workers=1,
                      stop=bool(a.stop), epsilons=[0.01], delta=0.05, stop_horizon=a.horizon if a.stop else 0,
                      params={a.strategy: params} if params else {})
    start = time.time()
    s = run_benchmark(col, cfg)["strategies"][a.strategy]
    out = {"coll": a.coll, "params": params, "seed": a.seed, "n": a.n,
           "ident": dict(zip(s["budgets"], [round(x, 3) for x in s["identification"]])), "l09": s.get("labels_to_0.9")}
    if a.stop:
        st = s["stops_by_epsilon"]["0.01"] if "stops_by_epsilon" in s else s["stops"]
        out.update(stopped=st["stopped"], wrong=st["wrong"], med=st["labels_median"], p90=st["labels_p90"])
    out["sec"] = round(time.time() - start)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
