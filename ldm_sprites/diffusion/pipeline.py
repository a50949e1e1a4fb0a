"""A trained diffusion model ready to sample: load a model directory, map class names, sample.

``DiffusionPipeline.from_pretrained(path)`` reads the model directory (EMA weights by default;
config.json through the schema, ``config.read_saved``), the noise schedule, its guide and, in
latent mode, the autoencoder it was trained with (checked by content hash); ``save_pretrained(dir)``
is the one writer of a self-contained model directory (diffusers' convention; the format is
``modeldir``'s), which ``ldmsprites bundle`` uses too. ``sample()`` runs any sampler with
classifier-free guidance in batches and returns pixels in model space; ``to_rgba()`` turns them
into sprites.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ldm_sprites.data.spec import DataSpec
from ldm_sprites.diffusion.config import (AutoencoderRef, GuideEntry, ModelSection,
                                          SavedDiffusion, read_saved)
from ldm_sprites.diffusion.dit import DiT, build_dit
from ldm_sprites.diffusion.guidance import GuidedDenoiser
from ldm_sprites.diffusion.guide import build_guide, guide_from, load_guide
from ldm_sprites.diffusion.options import SamplingOptions, resolve_sampling
from ldm_sprites.diffusion.samplers import SAMPLERS
from ldm_sprites.diffusion.schedule import NoiseSchedule
from ldm_sprites.diffusion.tileable import RollingDenoiser, roll_generator
from ldm_sprites.errors import UserError
from ldm_sprites.modeldir import load_model_dir
from ldm_sprites.runtime import resolve_device


# The sampling values ``sample``/``sprites`` take as keywords (``resolve_sampling``'s user options).
SAMPLING_KEYS = ("sampler", "steps", "guidance", "eta", "init_noise", "guidance_interval",
                 "spacing", "autoguidance", "tileable")


def class_ids(names: list[str], classes: list[str]) -> list[int]:
    """Class names -> ids, with an error listing valid names and the closest match."""
    if not classes:
        raise UserError("this model is unconditional (trained without --label-column); "
                        "leave out --class")
    ids = []
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    for name in names:
        key = name.strip().lower()
        if key not in lookup:
            close = difflib.get_close_matches(key, list(lookup), n=1, cutoff=0.5)
            hint = f" Did you mean '{classes[lookup[close[0]]]}'?" if close else ""
            raise UserError(f"unknown class '{name}'.{hint} Valid classes: {', '.join(classes)}")
        ids.append(lookup[key])
    return ids


def has_cxx_compiler() -> bool:
    """Whether inductor can build its CPU kernels here (``DiffusionPipeline.compile``)."""
    import shutil

    return any(shutil.which(c) for c in ("c++", "g++", "clang++"))


def _autoencoder_for(md, config: SavedDiffusion, model: DiT, device, ae_path):
    """The autoencoder of a latent model directory ``md`` (None for a pixel model), checked
    against the latents ``model`` expects."""
    if config.ae is None:
        if ae_path:
            raise UserError(f"{md.path} is a pixel-space model and uses no autoencoder; "
                            "leave out --ae")
        return None
    from ldm_sprites.autoencoder import load_autoencoder_for

    autoencoder = load_autoencoder_for(md.path, config.ae, device, override=ae_path)
    c, n = autoencoder.latent_channels, autoencoder.latent_size
    if (c, n) != (model.config.in_channels, model.config.input_size):
        raise UserError(f"autoencoder {autoencoder.path} makes {c}x{n}x{n} latents but "
                        f"{md.path} expects {model.config.in_channels}x"
                        f"{model.config.input_size}x{model.config.input_size}; pass --ae "
                        "with the autoencoder the model was trained with")
    return autoencoder


CREDITS_FILE = "CREDITS.md"   # who made the data a model learned (shown by `info`)


@dataclass
class DiffusionPipeline:
    model: DiT
    schedule: NoiseSchedule
    prediction: str
    classes: list[str]
    # The model directory's config (a dict is read through the schema): its ``sample`` section
    # is the sampling defaults, the one object ``sampling_options`` resolves against.
    config: SavedDiffusion
    device: torch.device
    autoencoder: object | None = None     # latent mode: has .decode(z) -> model-space pixels
    palette: object | None = None         # finish.PaletteInfo saved with the model (None: older)
    compiled: object | None = None        # torch.compile'd self.model after compile(); same weights
    guide: DiT | None = None              # autoguidance's less-trained DiT (guide.safetensors)
    credits: str | None = None            # the model directory's CREDITS.md, kept when saved

    def __post_init__(self):
        if isinstance(self.config, dict):
            self.config = read_saved(self.config)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | None = None, weights: str = "ema",
                        ae_path: str | Path | None = None) -> "DiffusionPipeline":
        """The pipeline of a model directory or training run (its newest checkpoint): the DiT
        (EMA weights by default), schedule, sampling defaults, palette, guide and, for a latent
        model, its autoencoder (``ae_path`` overrides the recorded one; checked by content
        hash). Every file is checked against the hash its config records."""
        md = load_model_dir(path, expect_kind="diffusion")
        config = read_saved(md.config, f"{md.path}/config.json")
        dev = resolve_device(device)
        try:
            model = build_dit(**asdict(config.model))
        except (TypeError, ValueError) as exc:
            raise UserError(f"{md.path}/config.json has no valid model section ({exc})") from None
        md.load_into(model, weights).eval().requires_grad_(False).to(dev)
        schedule = NoiseSchedule(config.diffusion.schedule, config.diffusion.timesteps)
        autoencoder = _autoencoder_for(md, config, model, dev, ae_path)
        from ldm_sprites.finish import from_model_dir

        credits = md.path / CREDITS_FILE
        return cls(model, schedule, config.diffusion.prediction, md.classes, config, dev,
                   autoencoder, from_model_dir(md.path), guide=load_guide(md, config, dev),
                   credits=credits.read_text(encoding="utf-8") if credits.is_file() else None)

    def compile(self) -> "DiffusionPipeline":
        """Sample through ``torch.compile`` (inductor) from now on. On CPU the default latent
        DiT samples ~1.3x faster, but compiling costs ~100 s (~20 s when inductor's on-disk cache
        has the graphs), so it pays from about a thousand sprites (a few hundred with the cache)
        - opt-in, not a default (docs/benchmarks.md, "Faster sampling"). Needs a C++ compiler on
        CPU. ``self.model`` stays the plain module, so saving and editing see the same weights."""
        if self.device.type == "cpu" and not has_cxx_compiler():
            raise UserError("--compile needs a C++ compiler on CPU (e.g. apt-get install g++); "
                            "leave out --compile to sample without it")
        self.compiled = torch.compile(self.model)
        return self

    def save_pretrained(self, path: str | Path, fp16: bool = False) -> Path:
        """Write a self-contained model directory that ``from_pretrained`` loads back into this
        pipeline: its config (with the sampling defaults it holds), classes, the DiT weights it
        holds (as the EMA weights, which load by default), its guide, its palette and, in latent
        mode, its autoencoder inside as ``ae/`` (recorded by relative path, content hash and
        encoder hash). ``fp16`` stores the weights as float16 (half the size). The one writer of
        model directories outside training: ``ldmsprites bundle`` is from_pretrained, change,
        save_pretrained."""
        import shutil

        from ldm_sprites.finish.palette import from_model_dir, palette_files_for
        from ldm_sprites.modeldir import hash_model_dir, save_model_dir

        path = Path(path)
        config = replace(self.config, guide=None, ae=None)
        weights = {"ema": self.model.state_dict()}
        if self.guide is not None:
            weights["guide"] = self.guide.state_dict()
            config.guide = replace(self.config.guide or GuideEntry(),
                                   model=ModelSection(preset=None, **asdict(self.guide.config)))
        files = palette_files_for(self.palette) if self.palette is not None else {}
        if self.credits:                         # whose art it learned: travels with the model
            files[CREDITS_FILE] = self.credits.encode("utf-8")

        def write() -> Path:
            return save_model_dir(path, config.to_json(), weights, classes=self.classes,
                                  extra_files=files, fp16=fp16)

        if self.autoencoder is None:
            return write()
        staging = path.with_name(path.name + ".ae-staging")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            ae = self.autoencoder
            own = from_model_dir(ae.path) if ae.path is not None else None
            ae.save_pretrained(staging, fp16=fp16,
                               extra_files=palette_files_for(own) if own is not None else None)
            config.ae = AutoencoderRef(path="ae", hash=hash_model_dir(staging),
                                       encoder=ae.encoder_hash())
            write()
            staging.rename(path / "ae")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return path

    def attach_guide(self, path: str | Path) -> "DiffusionPipeline":
        """Guide with the EMA weights of the model directory ``path`` (an earlier checkpoint of
        this run) from now on, checked as ``ldmsprites bundle --guide`` checks it; the saved
        autoguidance weight then applies. Returns ``self``."""
        entry, weights = guide_from(self.config, self.classes, path)
        self.guide = build_guide(entry.model, weights, self.device)
        self.config = replace(self.config, guide=entry)
        return self

    @property
    def latent(self) -> bool:
        return self.autoencoder is not None

    def class_ids(self, names: list[str]) -> list[int]:
        return class_ids(names, self.classes)

    def spread_labels(self, names: list[str] | None, num: int) -> tuple[list[int], list[str]]:
        """``num`` labels round-robin over the class ``names`` (default: every class of the
        model), and the name of each; an unconditional model draws "sprite"s."""
        if not self.classes:
            if names:
                self.class_ids(names)  # raises the "model is unconditional" message
            return [0] * num, ["sprite"] * num
        names = list(names) if names else list(self.classes)
        ids = self.class_ids(names)
        return ([ids[i % len(ids)] for i in range(num)],
                [self.classes[ids[i % len(ids)]] for i in range(num)])

    def sampling_options(self, **user) -> SamplingOptions:
        """The options to sample with: ``user`` values (None = not set) over the model's saved
        defaults (``config.sample``), resolved once; pass them on as ``options=``. See
        ``diffusion/options.py``."""
        return resolve_sampling(self.config.sample, self.schedule.T,
                                has_guide=self.guide is not None, **user)

    def resolve_options(self, options: SamplingOptions | None, user: dict) -> SamplingOptions:
        """``options`` as resolved by the caller, else ``user``'s over the model's defaults."""
        if options is None:
            return self.sampling_options(**user)
        if any(v is not None for v in user.values()):
            raise TypeError("pass resolved options= or sampling values, not both: "
                            f"{', '.join(k for k, v in user.items() if v is not None)}")
        return options

    @property
    def x0_clip(self) -> float | None:
        """Clip bound for x̂_0 (saved by training); pixels are always in [-1, 1]."""
        bound = self.config.x0_clip
        if bound:
            return float(bound)
        return None if self.latent else 1.0

    @property
    def noise_shape(self) -> tuple[int, int, int]:
        """Shape of one initial-noise tensor x_T (latent or pixel)."""
        c = self.model.config
        return (c.in_channels, c.input_size, c.input_size)

    @property
    def data_spec(self) -> DataSpec:
        """How the model's training data became tensors (its saved ``data`` section)."""
        return self.config.data.spec()

    @property
    def null_label(self) -> int:
        return self.model.config.num_classes

    @torch.no_grad()
    def sample(self, labels: list[int] | torch.Tensor, *, seed: int = 0, batch_size: int = 64,
               callback=None, progress: bool = False, noise: torch.Tensor | None = None,
               options: SamplingOptions | None = None, **user) -> torch.Tensor:
        """Sample one sprite per label; returns model-space pixels (N, C, H, W) on the CPU.

        ``options``: resolved ``sampling_options`` (what a command that also reports or records
        them passes); else ``user`` holds the sampling options the caller set — sampler, steps,
        guidance, eta, init_noise, guidance_interval, spacing, autoguidance — and anything not
        given (or None) comes from the model's saved defaults, so every entry point draws the
        same sprites. ``tileable`` ('xy', 'x', 'y') draws tiles that wrap (``tileable.py``).
        ``callback(step, x_t, x0_pred)`` gets the latent/pixel tensors of the *first* batch.
        ``noise`` (N, C, h, w) replaces the seeded initial noise x_T (e.g. to interpolate seeds).
        """
        opts = self.resolve_options(options, user)
        sampler, steps = opts.sampler, opts.steps
        labels = torch.as_tensor(labels, dtype=torch.long)
        timesteps = opts.timesteps(self.schedule)
        scale = self.schedule.harmonic_init_scale(timesteps) if opts.init_noise == "harmonic" \
            else 1.0
        gen = torch.Generator().manual_seed(int(seed))
        fn = SAMPLERS[sampler]
        rolls = self.tile_rolls(seed, opts)

        def run_batch(rows: slice, cb):
            y = labels[rows]
            if noise is not None:
                x = noise[rows].float() * scale
            else:
                x = torch.randn((len(y),) + self.noise_shape, generator=gen) * scale
            denoiser = self.denoiser(y, opts, rolls)
            return fn(denoiser, x.to(self.device), self.schedule, timesteps,
                      generator=gen, callback=cb, eta=opts.eta)

        tiles = f", tileable {opts.tileable}" if opts.tileable else ""
        return self.run_batches(len(labels), batch_size, len(timesteps), progress,
                                f"sampling ({sampler}, {steps} steps{tiles})", callback,
                                run_batch, wrap=opts.tileable)

    def run_batches(self, n: int, batch_size: int, steps: int, progress: bool, desc: str,
                    callback, run_batch, wrap: str | None = None) -> torch.Tensor:
        """``run_batch(rows, cb) -> model-space x_0`` over ``n`` rows in batches, decoded to
        pixels on the CPU: the loop ``sample`` and the editing functions share. ``cb`` advances
        the progress bar and passes the *first* batch's steps on to ``callback``. ``wrap``: the
        axes the samples wrap along (tileable sampling), decoded without an edge there."""
        bar = None
        n_batches = math.ceil(n / batch_size)
        if progress:
            from ldm_sprites.console import progress as pbar

            bar = pbar(total=n_batches * steps, desc=desc, unit="step", leave=False)
        outs = []
        for b in range(n_batches):
            def cb(i, x_t, x0, _first=(b == 0)):
                if bar is not None:
                    bar.update(1)
                if callback is not None and _first:
                    callback(i, x_t, x0)

            outs.append(self.decode(run_batch(slice(b * batch_size, (b + 1) * batch_size),
                                              cb), wrap=wrap).cpu())
        if bar is not None:
            bar.close()
        return torch.cat(outs)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, wrap: str | None = None) -> torch.Tensor:
        """Model space (latent or pixel) -> pixel model space in [-1, 1]. ``wrap`` ('xy', 'x',
        'y'): a latent that wraps along those axes is decoded with circularly padded convs, so
        the pixels wrap too (no edge at the tile's border)."""
        if self.autoencoder is None:
            return z.clamp(-1, 1)
        if wrap:
            return self.autoencoder.decode(z, wrap=wrap).clamp(-1, 1)
        # without wrap, any decode(z) will do (ONNX Runtime's decoder takes no wrap)
        return self.autoencoder.decode(z).clamp(-1, 1)

    def to_rgba(self, x: torch.Tensor):
        from ldm_sprites.data.tensors import model_to_rgba_uint8

        return model_to_rgba_uint8(x)

    def finish(self, rgba, options=None, wrap: str | None = None):
        """Pixel-exact finishing with the model's palette (``finish.FinishOptions``; None = the
        defaults, i.e. on). ``FinishOptions(mode="none")`` returns ``rgba`` untouched. ``wrap``:
        tiles, finished as they repeat (cleanup sees across the wrapping edges)."""
        from ldm_sprites.finish import FinishOptions, finish_sprites

        return finish_sprites(rgba, self.palette, options or FinishOptions(), wrap=wrap)

    def sprites(self, labels, *, finish=None, options: SamplingOptions | None = None, **kwargs):
        """What every entry point hands to users: ``sample`` -> uint8 RGBA (N, H, W, 4) ->
        ``finish``. ``kwargs`` go to ``sample`` (seed, batch_size, callback, sampling options);
        tileable options finish the tiles as they wrap."""
        user = {k: kwargs.pop(k) for k in list(kwargs) if k in SAMPLING_KEYS}
        opts = self.resolve_options(options, user)
        return self.finish(self.to_rgba(self.sample(labels, options=opts, **kwargs)), finish,
                           wrap=opts.tileable)

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor, wrap: str | None = None) -> torch.Tensor:
        """Pixel model space (N, C, H, W) in [-1, 1] -> model space (latent or pixel) on the
        pipeline's device: the inverse of ``decode`` (exact in pixel mode). ``wrap``: tiles,
        encoded as they repeat (no edge along those axes)."""
        pixels = pixels.to(self.device).float()
        return pixels if self.autoencoder is None else self.autoencoder.encode(pixels, wrap=wrap)

    def tile_rolls(self, seed: int, opts: SamplingOptions) -> torch.Generator | None:
        """The offsets' generator of noise rolling for tileable sampling with ``seed``, or None
        when nothing is rolled. Noise rolling makes any model's tiles wrap, at a random phase;
        a wrap-conditioned model (no edge, told to wrap) needs none and keeps the data's phase."""
        return roll_generator(seed) if opts.tileable and not self.wrap_conditioned else None

    def denoiser(self, labels: torch.Tensor, opts: SamplingOptions,
                 rolls: torch.Generator | None = None) -> GuidedDenoiser | RollingDenoiser:
        """The guided ``denoiser(x_t, t) -> x̂_0`` that ``sample`` builds, for a batch of labels
        (N,); null labels (``null_label``) or an unconditional model run without guidance.
        ``rolls`` (``tile_rolls``): seen through noise rolling along ``opts.tileable``."""
        labels = torch.as_tensor(labels, dtype=torch.long)
        guidance = opts.guidance
        wrap = self.wrap_states(len(labels), opts.tileable)
        if not self.classes or bool((labels == self.null_label).all()):
            labels = torch.full_like(labels, self.null_label)
            # nothing to guide towards, unless a wrap-conditioned model is asked for tiles
            if wrap is None or not opts.tileable:
                guidance = 1.0
        model = self.model if self.compiled is None else self.compiled
        guided = GuidedDenoiser(model, self.schedule, labels.to(self.device), self.null_label,
                                guidance, self.prediction, clip_x0=self.x0_clip,
                                interval=opts.guidance_interval, guide=self.guide,
                                autoguidance=opts.autoguidance, wrap=wrap)
        return guided if rolls is None else RollingDenoiser(guided, opts.tileable, rolls)

    @property
    def wrap_conditioned(self) -> bool:
        """Trained with ``model.wrap_condition``: told whether each tile wraps (docs/tiles.md)."""
        return bool(getattr(self.model.config, "wrap_condition", False))

    def wrap_states(self, n: int, axes: str | None) -> torch.Tensor | None:
        """What a wrap-conditioned model is asked for: tiles that wrap along ``axes`` ('xy',
        'x', 'y'; None: ordinary sampling, "unknown" on both axes, the data's own mix); None for
        other models."""
        if not self.wrap_conditioned:
            return None
        from ldm_sprites.diffusion.dit import WRAP_UNKNOWN, WRAP_YES

        row = [WRAP_YES if axes and a in axes else WRAP_UNKNOWN for a in "xy"]
        return torch.tensor([row] * n, dtype=torch.long, device=self.device)
