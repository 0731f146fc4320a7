#!/bin/sh
# Behind docs/certified-stop.md "Uniform head-to-head draws". Seed 0 only (the tuning seed), pool 1,000, 40
# realisations per certified cell (100 for random / disagreement on three collections), identification at
# 5, 10, 20 and 50 labels; one JSON line per cell in seed0.jsonl. The variants' code is not kept in the
# strategy: apply pair_focus.patch to commit 8abe86f first (it adds focus="pair", "pair-ts", "pair-mix",
# "pair-late5", "pair-late10", "prop1", "prop4", "top10", "mix-prop1", "top30", "top50"), in a worktree:
#   git worktree add /tmp/pair 8abe86f && cd /tmp/pair && git apply benchmarks/results/pair_draws/pair_focus.patch
# (the patch file is read from this checkout), then from that worktree's root, with .venv and .cache linked:
P="nice -n 10 env PYTHONPATH=. .venv/bin/python benchmarks/results/pair_draws/identification_cells.py --n 40 --budgets 5,10,20,50"
$P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop --strategies disagreement,random --n 100
$P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop,emocontext,shift-digits-rotate --strategies certified --tag default
$P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop,emocontext,shift-digits-rotate --strategies certified --tag x4g5 --params '{"exploration":0.4,"guided":0.5}'
$P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop,emocontext,shift-digits-rotate --strategies certified --tag x7g25 --params '{"exploration":0.7,"guided":0.25}'
$P --collections emocontext,shift-digits-rotate --strategies disagreement,random,model_selector --tag anchor
for F in pair pair-late5 pair-late10; do
  $P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop,emocontext,shift-digits-rotate --strategies certified --tag $F --params "{\"focus\":\"$F\"}"
done
for F in pair-ts pair-mix; do
  $P --collections shift-digits-rotate,shared-failure,shift-digits-occlude --strategies certified --tag $F --params "{\"focus\":\"$F\"}"
done
P2="env PYTHONPATH=. .venv/bin/python benchmarks/results/pair_draws/counts_pick.py"
# the default's draws, picked by the strategy and by raw labelled counts (counts_pick.txt; run at 8abe86f without the patch)
$P2 --collections shift-digits-occlude,shift-tabular-subpop,shared-failure --n 40
# the spread variants (same patch: focus="prop1", "prop4", "top10", "mix-prop1") and the anchors at pool 1,000
for F in prop1 top10 prop4 mix-prop1; do
  $P --collections shift-digits-rotate,shift-digits-occlude,shared-failure,shift-tabular-subpop,emocontext --strategies certified --tag $F --params "{\"focus\":\"$F\"}"
done
for F in top10 prop1; do
  $P --collections shift-tabular-prior,shift-cancer-recalibrated --strategies certified --tag $F --params "{\"focus\":\"$F\"}"
done
$P --collections shift-tabular-prior,shift-cancer-recalibrated --strategies certified --tag default
$P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop,shift-tabular-prior,shift-cancer-recalibrated --strategies model_selector,modelpicker,random,disagreement --n 100
for F in top30 top50; do
  $P --collections shared-failure,shift-digits-rotate,shift-tabular-prior,shift-digits-occlude,shift-tabular-subpop,emocontext,shift-cancer-recalibrated --strategies certified --tag $F --params "{\"focus\":\"$F\"}"
done
