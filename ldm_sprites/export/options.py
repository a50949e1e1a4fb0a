"""Every export setting in one dataclass, with the CLI's defaults, plus the checks on them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from PIL import ImageColor

from ldm_sprites.errors import UserError
from ldm_sprites.finish import FinishOptions, from_model_dir, load_palette

UPSCALE_RANGE = (1, 64)
SCALERS = ("nearest", "scale2x", "epx")
SVG_MODES = ("pixel", "spline")
# An upscaled side longer than this would need gigabytes for one sticker; refuse it up front.
MAX_OUTPUT_SIDE = 8192


@dataclass
class ExportOptions:
    """What to write and how. Defaults match ``ldmsprites export`` (see docs/export.md for why)."""

    upscale: int = 8
    scaler: str = "nearest"
    # Finishing (ldm_sprites.finish) is off unless asked for: the input may be finished already,
    # and without it alpha is kept as drawn (finishing.alpha_threshold, when set, cuts it).
    finishing: FinishOptions = field(default_factory=lambda: FinishOptions(mode="none"))
    model: str | None = None            # a model whose palette finishing uses
    svg: bool = True
    svg_mode: str = "pixel"
    stickers: bool = True
    border: float = 2.0  # in sprite pixels, so a sticker looks the same at every --upscale
    border_color: str = "#ffffff"
    shadow: bool = False
    sheet: bool = True
    padding: int = 2
    pot: bool = False
    columns: int = 0  # 0 = pick automatically
    trim: bool = False
    gif: bool = True
    fps: float = 8.0
    # 'xy' | 'x' | 'y': the sprites are tiles that wrap along those axes: also write a 3 x 3
    # preview of each, a tileset image with a Tiled .tsx and a Tiled JSON map (export/tiles.py).
    tileset: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        """Raise UserError for any value the CLI would also refuse (library callers skip click)."""
        lo, hi = UPSCALE_RANGE
        if not isinstance(self.upscale, int) or not lo <= self.upscale <= hi:
            raise UserError(f"upscale factor {self.upscale!r} is out of range: use {lo}..{hi}")
        if self.scaler not in SCALERS:
            raise UserError(f"unknown scaler {self.scaler!r}: use one of {', '.join(SCALERS)}")
        if self.svg_mode not in SVG_MODES:
            raise UserError(f"unknown SVG mode {self.svg_mode!r}: use one of {', '.join(SVG_MODES)}")
        finish = self.finishing
        finish.validate()
        if finish.palette is not None:
            load_palette(finish.palette)  # a bad file fails before any image is read
        if self.model is not None and finish.mode == "auto":
            from_model_dir(self.model)
        if not 0 <= self.border <= 64:
            raise UserError(f"--border {self.border} is out of range: use 0..64 sprite pixels")
        parse_color(self.border_color)
        if not 0 <= self.padding <= 256:
            raise UserError(f"--padding {self.padding} is out of range: use 0..256")
        if not 0 <= self.columns <= 4096:
            raise UserError(f"--columns {self.columns} is out of range: use 0 (auto) or more")
        if not 0.1 <= self.fps <= 100:
            raise UserError(f"--fps {self.fps} is out of range: use 0.1..100")
        if self.tileset is not None:
            from ldm_sprites.data.wrap import parse_axes

            self.tileset = parse_axes(self.tileset, "--tileset")


def parse_color(text: str) -> tuple[int, int, int, int]:
    """'#fff', '#ffffff', '#ffffffaa' or a CSS name -> RGBA, or a UserError saying what is accepted."""
    try:
        rgba = ImageColor.getrgb(text)
    except (ValueError, AttributeError):
        raise UserError(
            f"cannot read colour {text!r}: use a hex colour like '#ffffff' or a name like 'white'"
        ) from None
    return tuple(rgba) + (255,) if len(rgba) == 3 else tuple(rgba)
