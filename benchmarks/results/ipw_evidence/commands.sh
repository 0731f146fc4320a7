#!/bin/sh
# Runs behind docs/certified-stop.md "Importance-weighted evidence" (one process at a time, from the repository
# root, nice 19), in the order they ran. Every cell appends one JSON line. reused.jsonl: the default's and
# random's identification at 5 labels (seeds 1, 2, 200 realisations; benchmarks/results/pick_evidence/heldout.jsonl,
# same code: check.jsonl reruns one of its cells, 0.285 again) and the default's seed-1 curves (40 realisations;
# benchmarks/results/stops_focus/heldout.jsonl, curve-V1, the default since focus="open").
# evidence / ipw_power are gone from the strategy (2b00db2 is the last commit with them; these cells come from
# the code of ee2d7bd, before 63f16e4 changed the defaults): run the commands so marked in a worktree of such a
# commit, with benchmarks/identification.py and benchmarks/identification_tables.py copied from this checkout.
# Tables: python benchmarks/identification.py --table $D/reused.jsonl $D/id5.jsonl
#         python benchmarks/identification.py --curves $D/reused.jsonl $D/curves.jsonl
#         python benchmarks/identification.py --stops $D/curves.jsonl
P="nice -n 19 .venv/bin/python benchmarks/identification.py"
D=benchmarks/results/ipw_evidence
IPW='"ipw": {"evidence": "ipw"}'
T='"ipw-p0.25": {"evidence": "ipw", "ipw_power": 0.25}'
CURVE="--n 40 --budgets 5,20,50,80,100,150,200"
# 0. the reused default figures still reproduce (expect 0.285)
$P --collections emocontext --seeds 1 --n 200 --variants '{"default": {}}' --out $D/check.jsonl
# 1. identification at 5 labels, held-out seeds 1 and 2, 200 realisations (ipw, power 1)
# option removed from the strategy; runs at commit 2b00db2
$P --seeds 1,2 --n 200 --budgets 5 --variants "{$IPW}" --out $D/id5.jsonl
# 2. random labelling's curves (cheap), both seeds
$P --seeds 1,2 $CURVE --variants '{"random": {}}' --out $D/curves.jsonl
# 3. curves, seed 1, ipw power 1 (EmoContext with the certified stop, epsilon 0.01, to 200 labels)
# option removed from the strategy; runs at commit 2b00db2
$P --collections emocontext --seeds 1 $CURVE --horizon 200 --variants "{\"default\": {}, $IPW}" --out $D/curves.jsonl
for C in shift-digits-rotate shift-digits-occlude; do
  # option removed from the strategy; runs at commit 2b00db2
  $P --collections $C --seeds 1 $CURVE --variants "{$IPW}" --out $D/curves.jsonl
done
# 4. tuning, seed 0 only, 20 realisations: ipw_power 1, 0.5, 0.25 (0.25 kept)
for C in emocontext shift-digits-rotate; do
  # option removed from the strategy; runs at commit 2b00db2
  $P --collections $C --seeds 0 --n 20 --budgets 5,20,50,80,100,150,200 --variants "{\"default\": {}, $IPW, \
\"ipw-p0.5\": {\"evidence\": \"ipw\", \"ipw_power\": 0.5}, $T}" --out $D/tuning_seed0.jsonl
done
# 5. the rest of seed 1, ipw power 1
for C in shift-tabular-subpop shared-failure shift-tabular-prior shift-cancer-recalibrated; do
  # option removed from the strategy; runs at commit 2b00db2
  $P --collections $C --seeds 1 $CURVE --variants "{$IPW}" --out $D/curves.jsonl
done
# option removed from the strategy; runs at commit 2b00db2
$P --collections many-models --seeds 1 $CURVE --variants "{\"default\": {}, $IPW}" --out $D/curves.jsonl
# 6. the tempered variant (ipw_power 0.25): 5 labels (seeds 1, 2, 200), then curves seed 1
# option removed from the strategy; runs at commit 2b00db2
$P --seeds 1,2 --n 200 --budgets 5 --variants "{$T}" --out $D/id5.jsonl
# option removed from the strategy; runs at commit 2b00db2
$P --collections emocontext --seeds 1 $CURVE --horizon 200 --variants "{$T}" --out $D/curves.jsonl
for C in shift-digits-rotate shift-digits-occlude shift-tabular-subpop shared-failure shift-tabular-prior \
         shift-cancer-recalibrated many-models; do
  # option removed from the strategy; runs at commit 2b00db2
  $P --collections $C --seeds 1 $CURVE --variants "{$T}" --out $D/curves.jsonl
done
# 7. seed 2, default and both variants paired, in the order of issue 10's failures (stopped at 15:05 UTC)
# option removed from the strategy; runs at commit 2b00db2
$P --collections emocontext --seeds 2 $CURVE --horizon 200 --variants "{\"default\": {}, $T, $IPW}" --out $D/curves.jsonl
for C in shift-digits-rotate shift-digits-occlude shift-tabular-subpop shared-failure shift-tabular-prior \
         shift-cancer-recalibrated many-models; do
  # option removed from the strategy; runs at commit 2b00db2
  $P --collections $C --seeds 2 $CURVE --variants "{\"default\": {}, $T, $IPW}" --out $D/curves.jsonl
done
