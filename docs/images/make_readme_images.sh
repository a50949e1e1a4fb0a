#!/bin/sh
# Regenerates the README pictures made with the bundled demo model (seconds; repository root).
set -e
ldmsprites generate --num 48 --seed 0 --out docs/images/generated.png
ldmsprites generate --num 6 --seed 1 --gif docs/images/reverse.gif
ldmsprites demo --out /tmp/ldmsprites-demo
cp /tmp/ldmsprites-demo/assets/stickers/fire-001.png docs/images/export-sticker.png
cp /tmp/ldmsprites-demo/assets/sheet.png docs/images/export-sheet.png
