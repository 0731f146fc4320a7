#!/bin/sh
# Behind docs/certified-stop.md "Uniform head-to-head draws". Seed 0 only (the tuning seed), pool 1,000, 40
# realisations per certified cell (100 for random / disagreement on three collections), identification at
# 5, 10, 20 and 50 labels; one JSON line per cell in seed0.jsonl. The variants' code is not kept in the
# strategy: apply pair_focus.patch to commit 8abe86f first (it adds focus="pair", "pair-ts", "pair-mix",
# "pair-late5", "pair-late10", "prop1", "prop4", "top10", "mix-prop1", "top30", "top50"), in a worktree:
#   git worktree add /tmp/pair 8abe86f && git -C /tmp/pair apply "$PWD/benchmarks/results/pair_draws/pair_focus.patch"
#   cp benchmarks/identification.py benchmarks/identification_tables.py /tmp/pair/benchmarks/
# (both from this checkout's root), then from that worktree's root, with .venv and .cache linked. The cells were
# run by an earlier per-strategy script: its lines have no "params" and "l09", and the anchors' tag was "" or
# "anchor" where the commands below tag them by strategy (benchmarks/identification.py's tables read them so).
P="nice -n 10 env PYTHONPATH=. .venv/bin/python benchmarks/identification.py --seeds 0 --n 40 --budgets 5,10,20,50 --out benchmarks/results/pair_draws/seed0.jsonl"
$P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop --variants '{"disagreement": {}, "random": {}}' --n 100
$P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop,emocontext,shift-digits-rotate --variants '{"default": {}}'
$P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop,emocontext,shift-digits-rotate --variants '{"x4g5": {"exploration":0.4,"guided":0.5}}'
$P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop,emocontext,shift-digits-rotate --variants '{"x7g25": {"exploration":0.7,"guided":0.25}}'
$P --collections emocontext,shift-digits-rotate --variants '{"disagreement": {}, "random": {}, "model_selector": {}}'
for F in pair pair-late5 pair-late10; do
  $P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop,emocontext,shift-digits-rotate --variants "{\"$F\": {\"focus\":\"$F\"}}"
done
for F in pair-ts pair-mix; do
  $P --collections shift-digits-rotate,shared-failure,shift-digits-occlude --variants "{\"$F\": {\"focus\":\"$F\"}}"
done
P2="env PYTHONPATH=. .venv/bin/python benchmarks/results/pair_draws/counts_pick.py"
# the default's draws, picked by the strategy and by raw labelled counts (counts_pick.txt; run at 8abe86f without the patch)
$P2 --collections shift-digits-occlude,shift-tabular-subpop,shared-failure --n 40
# the spread variants (same patch: focus="prop1", "prop4", "top10", "mix-prop1") and the anchors at pool 1,000
for F in prop1 top10 prop4 mix-prop1; do
  $P --collections shift-digits-rotate,shift-digits-occlude,shared-failure,shift-tabular-subpop,emocontext --variants "{\"$F\": {\"focus\":\"$F\"}}"
done
for F in top10 prop1; do
  $P --collections shift-tabular-prior,shift-cancer-recalibrated --variants "{\"$F\": {\"focus\":\"$F\"}}"
done
$P --collections shift-tabular-prior,shift-cancer-recalibrated --variants '{"default": {}}'
$P --collections shared-failure,shift-digits-occlude,shift-tabular-subpop,shift-tabular-prior,shift-cancer-recalibrated --variants '{"model_selector": {}, "modelpicker": {}, "random": {}, "disagreement": {}}' --n 100
for F in top30 top50; do
  $P --collections shared-failure,shift-digits-rotate,shift-tabular-prior,shift-digits-occlude,shift-tabular-subpop,emocontext,shift-cancer-recalibrated --variants "{\"$F\": {\"focus\":\"$F\"}}"
done
