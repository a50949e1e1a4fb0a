"""``python -m ldm_sprites.finish --data DIR --model MODEL``: add the palette files to a model
directory trained before palettes were saved (how the bundled demo model got its palette)."""

from __future__ import annotations

from ldm_sprites.finish.palette import save_palette, training_palette


def main(argv=None) -> None:
    """Add a palette to a model directory trained before palettes were saved.

    python -m ldm_sprites.finish --data data/demo --model ldm_sprites/assets/demo-model
    """
    import argparse
    from dataclasses import replace

    from ldm_sprites.data.dataset import load_sprite_data
    from ldm_sprites.data.spec import DataSpec
    from ldm_sprites.modeldir import load_model_dir

    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the sprites the model was trained on")
    ap.add_argument("--model", required=True, help="model directory to write palette files into")
    args = ap.parse_args(argv)
    md = load_model_dir(args.model)
    # the pixels as the model saw them; no labels (a palette is over all sprites)
    spec = replace(DataSpec.from_config(md.config.get("data")), label_column=None)
    data = load_sprite_data(args.data, spec)
    for path in save_palette(md.path, training_palette(data.images)):
        print(path)


if __name__ == "__main__":
    main()
