#!/bin/sh
# Regenerates the images of docs/visualize.md (CPU minutes; run from the repository root).
set -e
ldmsprites demo-data --out /tmp/demo --num-per-class 100
ldmsprites animate forward --data /tmp/demo --label-column type --schedule both --frames 16 --num 6 \
    --out docs/images/forward.gif
ldmsprites plot noise-stats --data /tmp/demo --out docs/images/noise-stats.png
# A short pixel-mode run: 600 steps of configs/pixel-tiny.yaml, 4 checkpoints kept for the table.
sed -e 's/^  checkpoint_every: .*/  checkpoint_every: 150\n  keep_checkpoints: 4/' \
    -e 's/^  sample_every: .*/  sample_every: 0/' configs/pixel-tiny.yaml > /tmp/px.yaml
ldmsprites train-diffusion --config /tmp/px.yaml --data /tmp/demo --label-column type \
    --out /tmp/px --steps 600
ldmsprites generate --model /tmp/px --num 6 --seed 1 --gif docs/images/reverse.gif
ldmsprites report /tmp/px --out /tmp/px/report --buckets
cp /tmp/px/report/loss.png docs/images/report-loss.png
cp /tmp/px/report/timesteps.png docs/images/report-timesteps.png
ldmsprites eval --model /tmp/px --data /tmp/demo --num 500 --out /tmp/px/eval.json
cp /tmp/px/eval-neighbours.png docs/images/eval-neighbours.png
