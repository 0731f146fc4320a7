#!/bin/sh
# Runs behind docs/certified-stop.md "Certificate-directed guided draws" (one process each, run one at a time
# from the repository root; run_variant.py runs the harness with --workers 1). One JSON line per run.
# The previous default is {"focus":"none"} (measured as params {} before focus="open" became the default).
R=benchmarks/results/stops_focus/run_variant.py
OLD='{"focus":"none"}'
V1='{"focus":"open"}'
V2='{"focus":"open","burn_in":5,"prior_labels":0.5}'
OUT=benchmarks/results/stops_focus/heldout.jsonl
COLLS="emocontext shared-failure shift-tabular-prior shift-tabular-subpop shift-digits-rotate shift-digits-occlude shift-cancer-recalibrated"
# Tuning, seed 0 only (not in heldout.jsonl): EmoContext stops, 40 realisations per variant, e.g.
# option removed from the strategy; runs at commit 2b00db2
#   .venv/bin/python $R --n 40 --params '{"focus":"gain","focus_leader":"gap"}'
# and shared-failure / shift-tabular-prior with --stop 0 --n 100 (budgets 5..80) and --n 200 --budgets 5.
# 1. identification at 5 labels, 200 realisations, held-out seeds 1 and 2
for S in 1 2; do for C in $COLLS; do
  .venv/bin/python $R --coll $C --seed $S --stop 0 --n 200 --budgets 5 --strategy random | tail -1 | sed 's/^{/{"tag":"id5-random",/' >> $OUT
  .venv/bin/python $R --coll $C --seed $S --stop 0 --n 200 --budgets 5 --params "$OLD" | tail -1 | sed 's/^{/{"tag":"id5-old",/' >> $OUT
  # option removed from the strategy; runs at commit 2b00db2
  .venv/bin/python $R --coll $C --seed $S --stop 0 --n 200 --budgets 5 --params "$V2" | tail -1 | sed 's/^{/{"tag":"id5-V2",/' >> $OUT
  .venv/bin/python $R --coll $C --seed $S --stop 0 --n 200 --budgets 5 --params "$V1" | tail -1 | sed 's/^{/{"tag":"id5-V1",/' >> $OUT
done; done
# 2. EmoContext certified stops (epsilon 0.01, delta 0.05), 100 realisations, horizon 160
for S in 1 2; do for T in old V1 V2; do
  case $T in old) P=$OLD;; V1) P=$V1;; V2) P=$V2;; esac
  # option removed from the strategy; runs at commit 2b00db2
  .venv/bin/python $R --coll emocontext --seed $S --n 100 --horizon 160 --budgets 5,10,20,30,50,80,100,150 --params "$P" | tail -1 | sed "s/^{/{\"tag\":\"emo-$T\",/" >> $OUT
done; done
# 3. identification curves to 200 labels, seed 1, 40 realisations (the previous default's seed-1 curves and the
#    anchors' are benchmarks/results/stops/<collection>.json, 60 and 100 realisations)
for C in $COLLS; do [ $C = emocontext ] && continue
  .venv/bin/python $R --coll $C --seed 1 --stop 0 --n 40 --budgets 5,10,20,30,50,80,100,150,200 --params "$V1" | tail -1 | sed 's/^{/{"tag":"curve-V1",/' >> $OUT
done
