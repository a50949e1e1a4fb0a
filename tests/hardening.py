"""Helpers for the hardening suite: malformed files, one-line error checks, tiny configs."""

from __future__ import annotations

import errno
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.cli import cli


def run(*args, verbose: bool = False):
    return CliRunner().invoke(cli, (["--verbose"] if verbose else []) + [str(a) for a in args])


def assert_one_line_error(res, *needles: str, code: int = 1) -> str:
    """Non-zero exit, no traceback, exactly one ``Error:`` line containing every needle."""
    assert res.exit_code == code, res.output
    # An exception that escaped click would be recorded here instead of a SystemExit.
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    for needle in needles:
        assert needle.lower() in errors[0].lower(), errors[0]
    return errors[0]


def enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A 68-byte PNG whose header claims width x height pixels (IHDR patched, CRC fixed)."""
    data = bytearray(png_bytes(Image.new("1", (8, 8))))
    data[16:24] = struct.pack(">II", width, height)  # after signature, length and b"IHDR"
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def sprite(seed: int = 0, size: int = 16) -> Image.Image:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
    a[..., 3] = 255
    a[: max(1, size // 8)] = 0  # a transparent band: the sprite has real alpha
    return Image.fromarray(a, "RGBA")


BROKEN = ("empty.png", "truncated.png", "text.png", "bomb.png")


def write_broken_images(folder: Path) -> Path:
    """0-byte file, truncated PNG, a text file named .png, a 20000x20000 decompression bomb."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(png_bytes(sprite())[:60])
    (folder / "text.png").write_text("this is not a picture\n")
    (folder / "bomb.png").write_bytes(bomb_png())
    return folder


def write_odd_images(folder: Path) -> list[str]:
    """Valid but unusual sprites: every awkward mode, an animated GIF and mixed sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    s = sprite(1)
    s.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    s.convert("1").save(folder / "onebit.png")
    Image.fromarray(np.asarray(s.convert("L"), np.uint16) * 257).save(folder / "grey16.png")
    s.convert("L").save(folder / "grey.png")
    s.convert("RGB").convert("CMYK").save(folder / "cmyk.jpg")
    s.convert("LA").save(folder / "la.png")
    frames = [sprite(i) for i in range(3)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    sprite(2, size=40).save(folder / "big.png")
    sprite(3, size=7).save(folder / "small.png")
    return sorted(p.name for p in folder.iterdir())


def write_config(tmp_path: Path, name: str = "cfg.yaml", **train) -> Path:
    """A nano pixel-space config on 16x16 sprites that logs every step."""
    t = {"steps": 6, "batch_size": 8, "log_every": 1, "checkpoint_every": 3, "sample_every": 0,
         "lr": 0.001, **train}
    path = tmp_path / name
    path.write_text("model: {preset: nano, patch_size: 4}\n"
                    "data: {size: 16, label_column: type}\n"
                    "train: {" + ", ".join(f"{k}: {v}" for k, v in t.items()) + "}\n")
    return path


def fake_autoencoder(path: Path, seed: int = 0) -> Path:
    """An untrained nano KL autoencoder model directory for 16x16 RGBA sprites (no training)."""
    import torch

    from ldm_sprites.autoencoder.handle import build_from_config
    from ldm_sprites.modeldir import save_model_dir

    config = {"kind": "autoencoder",
              "model": {"quantizer": "kl", "downsample": 4, "latent_channels": 4, "stem": 4,
                        "channels": 16, "res_blocks": 1},
              "data": {"size": 16, "channels": 4, "resample": "nearest",
                       "background": "#ffffff"},
              "scale_factor": 1.0}
    torch.manual_seed(seed)
    model = build_from_config(config)
    return save_model_dir(path, config, {"model": model.state_dict(), "ema": model.state_dict()})
