"""``ldmsprites export-onnx``: a model's networks as ONNX files, for tools outside Python."""

from __future__ import annotations

import click

from ldm_sprites.cli.common import device_option


@click.command("export-onnx", short_help="Export a model's denoiser (and decoder) to ONNX.")
@click.argument("model_dir", required=False, type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for denoiser.onnx, decoder.onnx (latent models), guide.onnx (models "
                   "with an autoguidance guide) and model.json.")
@click.option("--weights", type=click.Choice(["ema", "model"]), default="ema", show_default=True)
@click.option("--opset", type=click.IntRange(14, 23), default=17, show_default=True)
@click.option("--check/--no-check", default=True, show_default=True,
              help="Run the files through ONNX Runtime (when installed) and compare with torch.")
@device_option
def export_onnx(model_dir, out_dir, weights, opset, check, device):
    """Export MODEL_DIR (default: the bundled model) to ONNX for a game tool or engine.

    The DiT denoiser takes (x, t, y) and returns the model's ε (or v) prediction; guidance,
    the sampler loop and the noise schedule (ᾱ_t for every t, in model.json) are yours to run.
    Needs the extra: pip install -e ".[onnx]".
    """
    from ldm_sprites.diffusion.onnx_export import export_onnx as run_export
    from ldm_sprites.diffusion.onnx_export import max_difference, require_onnx
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.runtime import model_path

    require_onnx()
    pipe = DiffusionPipeline.from_pretrained(model_path(model_dir),
                                             device=device or "cpu", weights=weights)
    meta = run_export(pipe, out_dir, opset=opset)
    click.echo(f"{', '.join(meta['files'])} + model.json -> {out_dir}")
    if check:
        try:
            diffs = max_difference(pipe, out_dir)
        except ImportError:
            click.echo("(onnxruntime is not installed: outputs not checked)")
            return
        click.echo("max |onnx - torch|: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
