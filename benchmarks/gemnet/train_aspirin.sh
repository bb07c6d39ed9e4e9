#!/usr/bin/env bash
# gemnet on rMD17 aspirin at the 25-minute CPU budget of the other families' shipped
# aspirin models (benchmarks/zoo/train_zoo.sh: batches of 4, cosine over the budget,
# Huber loss, split rmd17:1, one thread per run, two runs side by side on 2 cores).
# Two sizes at their registered (transferred) rates; the one with the lower
# validation force MAE is shipped (benchmarks/zoo/ship.py).
#   bash benchmarks/gemnet/train_aspirin.sh xs   # and, side by side:  ... s
set -eu
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
R=${ROOT:-../shared/data/rmd17}
size=$1
case $size in xs) lr=1e-2 ;; s) lr=5e-3 ;; m) lr=2.5e-3 ;; *) echo "size xs, s or m" >&2; exit 2 ;; esac
name=gemnet-$size.rmd17-aspirin
mkdir -p runs
.venv/bin/forcefields train --model gemnet-$size --data rmd17:aspirin --root "$R" --split rmd17:1 \
  --max-time 00:00:25:00 --max-epochs 1000 --batch-size 4 --lr $lr --schedule cosine --loss huber --seed 0 \
  --out runs/$name --no-progress-bar > runs/$name.log 2>&1
