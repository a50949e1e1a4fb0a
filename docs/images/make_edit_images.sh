#!/bin/sh
# Regenerates the README's editing pictures (vary, inpaint, class transfer) with the bundled demo
# model on the demo set (a few minutes on a laptop CPU; run from the repository root).
set -e
DATA=${DATA:-data/demo}
[ -f "$DATA/metadata.csv" ] || ldmsprites demo-data --out "$DATA"
IMG=$DATA/images
for s in 0.3 0.6 0.9; do
  ldmsprites vary "$IMG/water-00003.png" --strength "$s" --num 6 --seed 0 --out "docs/images/edit-vary-$s.png"
done
ldmsprites inpaint "$IMG/grass-00002.png" --region 0,0,32,14 --num 6 --seed 0 --class grass \
  --out docs/images/edit-inpaint.png
ldmsprites vary "$IMG/water-00003.png" "$IMG/ghost-00001.png" "$IMG/ice-00004.png" --class fire \
  --strength 0.6 --num 4 --seed 0 --out docs/images/edit-fire.png
