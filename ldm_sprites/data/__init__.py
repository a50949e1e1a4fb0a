"""Sprite data: decoding any image into RGBA, discovering data-set layouts, the tensor cache."""
