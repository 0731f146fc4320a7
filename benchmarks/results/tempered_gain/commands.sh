#!/bin/sh
# Runs behind docs/certified-stop.md "Tempered information gain" (from the repository root, nice 5, on a 2-core
# machine shared with other work). Each cell appends one JSON line.
#
# tuning_seed0.jsonl, tuning_seed0_id5.jsonl: seed 0 only (the tuning seed), run at 8a92c0f (gain_temper an option,
# defaults then gain_temper 0, prior_labels 2) except the EmoContext lines tagged gt4-pl1, gt3-pl1, pl1 and old,
# run at 63f16e4 (defaults gain_temper 2, prior_labels 1; "pl1" there is gain_temper 0, "old" is gain_temper 0 with
# prior_labels 2). Tags: default (the defaults of the run's commit), gtC (gain_temper C), pl1 (prior_labels 1).
# At those commits, copy benchmarks/identification.py and benchmarks/identification_tables.py from this checkout
# into the worktree first (they ran as the earlier ipw_evidence script; --out names the file each cell is kept in).
P="nice -n 5 .venv/bin/python benchmarks/identification.py"
T=benchmarks/results/tempered_gain
G="--seeds 0 --n 20 --budgets 5,20,50,80,100,150,200"
$P --collections shift-digits-rotate,emocontext,shift-digits-occlude $G \
   --variants '{"gt2": {"gain_temper": 2.0}, "gt4": {"gain_temper": 4.0}, "pl1": {"prior_labels": 1}}' \
   --out $T/tuning_seed0.jsonl
$P --collections shared-failure,shift-tabular-prior,shift-tabular-subpop,shift-cancer-recalibrated,emocontext,shift-digits-rotate,shift-digits-occlude $G \
   --variants '{"default": {}, "gt2-pl1": {"gain_temper": 2.0, "prior_labels": 1}, "gt2": {"gain_temper": 2.0}}' \
   --out $T/tuning_seed0.jsonl
$P --collections shared-failure,shift-digits-rotate,shift-cancer-recalibrated,shift-tabular-prior,shift-digits-occlude,emocontext \
   --seeds 0 --n 100 --budgets 5 --variants '{"random": {}, "default": {}, "pl1": {"prior_labels": 1}}' \
   --out $T/tuning_seed0_id5.jsonl
# at 63f16e4:
$P --collections emocontext --seeds 0 --n 40 --budgets 5,20,50,80,100,150,200 --variants \
   '{"gt4-pl1": {"gain_temper": 4.0}, "gt3-pl1": {"gain_temper": 3.0}, "pl1": {"gain_temper": 0.0}, "old": {"gain_temper": 0.0, "prior_labels": 2.0}}' \
   --out $T/tuning_seed0.jsonl
#
# Held out (seeds 1 and 2, never used for the choice), at 63f16e4 (58fd45b draws the same bits):
# curves, P(best) calibration, certified stops (epsilon 0.01, horizon 200) and, seed 2 only, the P(best) rule's stops
for SEED in 1 2; do
  nice -n 5 .venv/bin/python benchmarks/certified_calibration.py \
    --data ../shared/data/emocontext,.cache/synth/shared-failure,.cache/collections/shift-digits-rotate,.cache/collections/shift-digits-occlude,.cache/collections/shift-tabular-subpop,.cache/collections/shift-tabular-prior,.cache/collections/shift-cancer-recalibrated \
    --strategies certified --realizations 40 --max-labels 200 --horizon 200 --seed $SEED --epsilon 0.01 --workers 2 \
    --json benchmarks/results/tempered_gain/curves_seed$SEED.jsonl
done
# identification at 5 labels, 200 realisations, every collection (random's and the previous default's cells:
# benchmarks/results/pick_evidence/heldout.jsonl, same seeds and realisations)
nice -n 8 .venv/bin/python benchmarks/identification.py --seeds 1,2 --n 200 --budgets 5 \
  --collections emocontext,many-models,many-classes,imbalanced,near-ties,shared-failure,shift-digits-rotate,shift-digits-occlude,shift-tabular-subpop,shift-tabular-prior,shift-cancer-recalibrated \
  --variants '{"new-default": {}}' --out benchmarks/results/tempered_gain/id5.jsonl
# tables:
#   .venv/bin/python benchmarks/certified_calibration.py --table benchmarks/results/tempered_gain/curves_seed1.jsonl
#   .venv/bin/python benchmarks/identification.py --table benchmarks/results/pick_evidence/heldout.jsonl benchmarks/results/tempered_gain/id5.jsonl
