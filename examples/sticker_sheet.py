"""Generate sprites of one class and turn them into a printable sticker sheet.

    python examples/sticker_sheet.py --class ghost --num 12 --out stickers/

Writes die-cut sticker PNG/SVGs (white border around the silhouette) and A4 sticker-sheet PNGs,
using the export API that `ldmsprites export` uses.
"""

import argparse

from ldm_sprites import api


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--class", dest="cls", default=None)
    ap.add_argument("--num", type=int, default=12)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--border", type=float, default=2.0, help="border width in sprite pixels")
    ap.add_argument("--out", default="stickers")
    args = ap.parse_args()
    pipe = api.load_pipeline(args.model)
    sprites, names = api.generate(pipe, classes=[args.cls] if args.cls else None, num=args.num,
                                  seed=0, steps=args.steps)
    options = api.ExportOptions(upscale=8, svg=False, stickers=True, border=args.border,
                                sheet=False, gif=False)
    manifest = api.export_sprites(api.sprites_to_export(sprites, names, seed=0), args.out, options)
    sheets = sorted(f"{args.out}/{f['file']}" for f in manifest["files"]
                    if "sticker-sheet" in f["file"])
    print(f"{len(sprites)} stickers in {args.out}/stickers/; printable sheet(s): {', '.join(sheets)}")


if __name__ == "__main__":
    main()
