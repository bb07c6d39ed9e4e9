#!/usr/bin/env bash
# The runs and budgets behind the shipped checkpoints (2 CPU cores, one thread per run,
# two lanes side by side), then shipped with benchmarks/zoo/ship.py. The older checkpoints
# were trained before the tuned defaults (batch 8, lr 2e-3, plateau); each line pins its recipe.
#   bash benchmarks/zoo/train_zoo.sh && python -m forcefields.zoo.index checkpoints/
# Trained elsewhere: gemnet-{xs,s}.rmd17-aspirin (benchmarks/gemnet/train_aspirin.sh, the s run
# from benchmarks/tuning/gemnet-aspirin.json), esen-l2-s.rmd17-aspirin (benchmarks/long_run/esen_aspirin.sh,
# about two hours of one core), the *.qm9-xtb general potentials (README, "A corpus you regenerate").
set -u
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
R=${ROOT:-../shared/data/rmd17}
FF=.venv/bin/forcefields
ALL="rmd17:aspirin rmd17:benzene rmd17:ethanol rmd17:malonaldehyde rmd17:naphthalene rmd17:salicylic rmd17:toluene rmd17:uracil"
mkdir -p runs

train() { # name budget model extra-args... -- sources...
  local name=$1 budget=$2 model=$3; shift 3
  local extra=()
  while [ "$1" != "--" ]; do extra+=("$1"); shift; done; shift
  $FF train --model "$model" --data "$@" --root "$R" --split rmd17:1 --max-time "$budget" \
    --max-epochs 1000 --batch-size 8 --lr 2e-3 --schedule plateau --seed 0 "${extra[@]}" --out "runs/$name" \
    --no-progress-bar > "runs/$name.log" 2>&1
  .venv/bin/python benchmarks/zoo/ship.py "runs/$name" --name "$name" --data "$@" --root "$R"
}

lane_a() {
  # the tuned recipe (benchmarks/tuning): batches of 4, lr 1e-2, cosine over the budget, Huber loss
  train egnn-s.rmd17-aspirin 00:00:25:00 egnn-s --batch-size 4 --lr 1e-2 --schedule cosine --loss huber -- rmd17:aspirin
  train mpnn-s.rmd17-aspirin 00:00:25:00 mpnn-s -- rmd17:aspirin
  train mpnn-s.rmd17-aspirin-symloss 00:00:25:00 mpnn-s --symmetry-loss 5 -- rmd17:aspirin
  train egnn-s.rmd17-ethanol 00:00:08:00 egnn-s -- rmd17:ethanol
  train egnn-s.rmd17-all 00:00:12:00 egnn-s -- $ALL
}
lane_b() {
  train esen-l2-xs.rmd17-aspirin 00:00:25:00 esen-l2-xs --batch-size 4 --lr 1e-2 --schedule cosine --loss huber -- rmd17:aspirin
  train esen-l2-xs.rmd17-ethanol 00:00:08:00 esen-l2-xs -- rmd17:ethanol
  train mpnn-s.rmd17-ethanol 00:00:08:00 mpnn-s -- rmd17:ethanol
  train esen-l2-xs.rmd17-all 00:00:12:00 esen-l2-xs -- $ALL
  train mpnn-s.rmd17-all 00:00:12:00 mpnn-s -- $ALL
}
lane_a & lane_b & wait
