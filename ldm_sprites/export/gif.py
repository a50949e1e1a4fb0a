"""An animated GIF of the frames, with real transparency and one shared palette."""

from __future__ import annotations

import numpy as np
from PIL import Image

TRANSPARENT_INDEX = 255  # GIF has 1-bit transparency via one palette slot; colours use 0..254


def gif_frames(images: list[np.ndarray]) -> list[Image.Image]:
    """Palette ('P') frames of equal size; smaller sprites are centred on the largest canvas."""
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    canvases = []
    for im in images:
        canvas = np.zeros((h, w, 4), dtype=np.uint8)
        y, x = (h - im.shape[0]) // 2, (w - im.shape[1]) // 2
        canvas[y : y + im.shape[0], x : x + im.shape[1]] = im
        canvases.append(canvas)
    # One palette for all frames (median cut over every visible pixel) so colours do not
    # flicker between frames, as they would with a palette per frame.
    opaque = np.concatenate([c[c[..., 3] >= 128][:, :3] for c in canvases])
    if len(opaque) == 0:
        opaque = np.zeros((1, 3), dtype=np.uint8)
    strip = Image.fromarray(opaque.reshape(1, -1, 3), "RGB")
    palette_image = strip.quantize(
        colors=TRANSPARENT_INDEX, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    palette = palette_image.getpalette()[: 3 * TRANSPARENT_INDEX]
    palette += [0] * (3 * 256 - len(palette))
    frames = []
    for canvas in canvases:
        rgb = Image.fromarray(np.ascontiguousarray(canvas[..., :3]), "RGB")
        indexed = np.array(rgb.quantize(palette=palette_image, dither=Image.Dither.NONE))
        indexed[canvas[..., 3] < 128] = TRANSPARENT_INDEX
        frame = Image.fromarray(indexed, "P")
        frame.putpalette(palette)
        frames.append(frame)
    return frames


def gif_save_kwargs(frames: list[Image.Image], fps: float) -> dict:
    """Arguments for saving ``frames[0]`` as the whole animation."""
    return dict(
        save_all=True,
        append_images=frames[1:],
        duration=max(20, round(1000 / fps / 10) * 10),  # GIF stores centiseconds
        loop=0,
        transparency=TRANSPARENT_INDEX,
        disposal=2,  # clear each frame, or transparent areas would show the previous frame
        optimize=False,
    )
