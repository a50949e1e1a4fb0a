#!/bin/sh
# Regenerates the images of docs/visualize.md (a few CPU minutes; run from the repository root).
set -e
ldmsprites demo-data --out /tmp/demo --num-per-class 100
ldmsprites animate forward --data /tmp/demo --label-column type --schedule both --frames 16 --num 6 \
    --out docs/images/forward.gif
ldmsprites plot noise-stats --data /tmp/demo --out docs/images/noise-stats.png
# A short pixel-mode run: 600 steps of configs/pixel-tiny.yaml, checkpoints every 150 steps.
ldmsprites train-diffusion --config configs/pixel-tiny.yaml --data /tmp/demo --label-column type \
    --out /tmp/px --steps 600 --checkpoint-every 150 --sample-every 0
ldmsprites generate --model /tmp/px --num 6 --seed 1 --gif docs/images/reverse.gif
