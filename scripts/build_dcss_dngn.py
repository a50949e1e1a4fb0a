"""Build the ``dcss-dngn`` tile set: Dungeon Crawl Stone Soup's 32x32 dungeon tiles (floor, wall,
water, lava, trees, ...) as a Hugging Face imagefolder (``images/`` + ``metadata.csv`` with a
``category`` column), leaving out every tile of unclear licence.

    python scripts/build_dcss_dngn.py --crawl PATH/TO/crawl --tiles PATH/TO/tiles \
        --out ../shared/data/dcss-dngn

``--crawl``: a snapshot of the public crawl/crawl repository (a checkout, or a git directory
without a work tree: files are then read with ``git ls-tree`` / ``git cat-file``), whose
``crawl-ref/source/rltiles/dngn/`` holds the tiles. ``--tiles``: a snapshot of crawl/tiles, whose
``TILES_UNDER_UNKNOWN_LICENSE.md`` lists the tiles that are not CC0; every file it names is left
out, matched by file name wherever it sits (the list names some by bare file name, some by
paths from older layouts, e.g. ``rltiles/dc-dngn/...``), so a tile moved since is still left out.

The category is the tile's folder under ``dngn/`` (floor, wall, water, trees, ...), except that
the lava tiles, which sit in ``floor/``, are ``lava``. Only 32x32 images are kept. The set is
written outside this repository (the script refuses a folder inside it): the images are data,
not code. ``README.md`` in the output records both commits and what was left out.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from PIL import Image

DNGN = "crawl-ref/source/rltiles/dngn"
LICENCE_LIST = "TILES_UNDER_UNKNOWN_LICENSE.md"
# The terrain a map is painted with; the other folders (altars, doors, shops, statues, traps,
# gateways, decor, vaults) are features drawn over it. ``--categories all`` keeps every folder.
TERRAIN = ("floor", "wall", "water", "lava", "trees")
SIZE = 32


class Snapshot:
    """Read files of a repository snapshot: a work tree, or a git directory (``git show``)."""

    def __init__(self, path: Path, rev: str = "HEAD"):
        self.path, self.rev = Path(path), rev
        self.git = None
        for candidate in (self.path, self.path / ".git", self.path / "repo",
                          self.path / "repo" / ".git"):
            if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
                self.git = candidate
                break
        if self.git is None and not self.path.is_dir():
            raise SystemExit(f"error: {path} is neither a checkout nor a git directory")

    def _run(self, *args: str, text: bool = True):
        out = subprocess.run(["git", f"--git-dir={self.git}", *args], capture_output=True,
                             check=True)
        return out.stdout.decode() if text else out.stdout

    def commit(self) -> str | None:
        if self.git is None:
            return None
        return self._run("rev-parse", self.rev).strip()

    def list(self, folder: str) -> list[str]:
        """Paths of the files under ``folder``, relative to the repository root, sorted."""
        if self.git is not None:
            out = self._run("ls-tree", "-r", "--name-only", self.rev, "--", folder)
            return sorted(line for line in out.splitlines() if line)
        root = self.path / folder
        return sorted(str(p.relative_to(self.path)) for p in root.rglob("*") if p.is_file())

    def read(self, path: str) -> bytes:
        if self.git is not None:
            return self._run("show", f"{self.rev}:{path}", text=False)
        return (self.path / path).read_bytes()


def excluded_names(licence_text: str) -> set[str]:
    """Lower-case file names of every tile the licence list names (bare names and paths)."""
    return {Path(m).name.lower() for m in re.findall(r"[\w./+-]+\.png", licence_text)}


def category_of(rel: str) -> str:
    """``floor/lava03.png`` -> lava; ``wall/abyss/x.png`` -> wall; ``trees/tree1.png`` -> trees."""
    parts = rel.split("/")
    if len(parts) < 2:
        return "misc"
    if parts[0] == "floor" and Path(parts[-1]).stem.lower().startswith("lava"):
        return "lava"
    return parts[0]


def build(crawl: Snapshot, tiles: Snapshot, out: Path, categories: tuple[str, ...] | None,
          size: int = SIZE) -> dict:
    licence = tiles.read(LICENCE_LIST).decode("utf-8", "replace")
    banned = excluded_names(licence)
    files = [p for p in crawl.list(DNGN) if p.lower().endswith(".png")]
    if not files:
        raise SystemExit(f"error: no PNG files under {DNGN} in {crawl.path}")
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows, left_out, wrong_size, other_category = [], [], Counter(), Counter()
    used: set[str] = set()
    for path in files:
        rel = path[len(DNGN) + 1:]
        cat = category_of(rel)
        if Path(path).name.lower() in banned:
            left_out.append(rel)
            continue
        if categories is not None and cat not in categories:
            other_category[cat] += 1
            continue
        data = crawl.read(path)
        with Image.open(io.BytesIO(data)) as im:
            if im.size != (size, size):
                wrong_size[cat] += 1
                continue
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", rel[:-4].replace("/", "-"))
        if cat != rel.split("/")[0]:
            name = f"{cat}-{name}"
        while name in used:
            name += "_"
        used.add(name)
        (images / f"{name}.png").write_bytes(data)
        rows.append({"file_name": f"images/{name}.png", "category": cat,
                     "folder": str(Path(rel).parent), "source": rel})
    with open(out / "metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file_name", "category", "folder", "source"])
        writer.writeheader()
        writer.writerows(rows)
    counts = Counter(r["category"] for r in rows)
    summary = {"tiles": len(rows), "classes": dict(sorted(counts.items())),
               "left_out_unknown_licence": sorted(left_out),
               "left_out_not_32x32": dict(wrong_size),
               "left_out_other_categories": dict(other_category),
               "crawl_commit": crawl.commit(), "tiles_commit": tiles.commit()}
    (out / "build.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "README.md").write_text(_readme(summary))
    return summary


def _readme(s: dict) -> str:
    classes = ", ".join(f"{k} {v}" for k, v in s["classes"].items())
    return (f"# dcss-dngn\n\nDungeon Crawl Stone Soup's {SIZE}x{SIZE} dungeon tiles (CC0), "
            f"from crawl/crawl `{DNGN}/` at {s['crawl_commit'] or 'a checkout'}; "
            f"{len(s['left_out_unknown_licence'])} tiles named in crawl/tiles' "
            f"`{LICENCE_LIST}` (at {s['tiles_commit'] or 'a checkout'}) are left out.\n\n"
            f"{s['tiles']} tiles in `category`: {classes}.\n\nBuilt by "
            "ldm-sprites' `scripts/build_dcss_dngn.py`; credit \"Dungeon Crawl Stone Soup tiles "
            "(CC0)\". `build.json` lists what was left out and why.\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crawl", required=True, type=Path, help="crawl/crawl checkout or git dir")
    ap.add_argument("--tiles", required=True, type=Path, help="crawl/tiles checkout or git dir")
    ap.add_argument("--out", required=True, type=Path, help="output folder (outside the repo)")
    ap.add_argument("--rev", default="HEAD", help="revision of both snapshots (git dirs)")
    ap.add_argument("--categories", default=",".join(TERRAIN),
                    help=f"comma-separated categories to keep, or 'all' (default: {','.join(TERRAIN)})")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    repo = Path(__file__).resolve().parents[1]
    if out == repo or repo in out.parents:
        ap.error(f"--out {args.out} is inside the repository {repo}; the tiles are data: "
                 "write them elsewhere (e.g. ../shared/data/dcss-dngn)")
    if out.exists() and any(out.iterdir()):
        ap.error(f"--out {args.out} exists and is not empty; remove it or pick another folder")
    cats = None if args.categories.strip().lower() == "all" else \
        tuple(c.strip() for c in args.categories.split(",") if c.strip())
    s = build(Snapshot(args.crawl, args.rev), Snapshot(args.tiles, args.rev), out, cats)
    print(f"{s['tiles']} tiles -> {out}: " + ", ".join(f"{k} {v}" for k, v in s["classes"].items())
          + f"; left out {len(s['left_out_unknown_licence'])} of unknown licence, "
          f"{sum(s['left_out_not_32x32'].values())} not {SIZE}x{SIZE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
