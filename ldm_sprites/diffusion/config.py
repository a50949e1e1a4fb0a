"""The diffusion stage's config schema (``configs/pixel-*.yaml``, ``dit-*.yaml``) as dataclasses.

Loaded by the generic ``config_loader`` (unknown keys are errors with a suggestion, each field's
choices and range are checked). A model directory's ``config.json`` holds the same sections plus what training decided
(``SavedDiffusion``), and ``read_saved`` is the one reader of it: the ``model:`` section there is
the resolved architecture (``ModelSection.resolved``: preset expanded, the sizes the data and the
autoencoder decided filled in), which builds the same network again, and the ``sample:`` section
is the model's sampling defaults, the one object every entry point resolves options against.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, replace

from ldm_sprites.config_loader import bounded, choice, from_saved
from ldm_sprites.data.spec import DataSpec
from ldm_sprites.diffusion.choices import INIT_NOISE, SAMPLER_NAMES, SPACINGS
from ldm_sprites.errors import UserError
from ldm_sprites.train_section import TrainSection


@dataclass
class ModelSection:
    preset: str | None = "tiny"
    patch_size: int = 2
    hidden_size: int | None = None   # None: from the preset
    depth: int | None = None
    num_heads: int | None = None
    mlp_ratio: float = 4.0
    mlp_conv: bool = False           # depthwise 3x3 conv over the token grid in every MLP
    class_dropout: float = 0.1       # label dropout for classifier-free guidance
    # Tiles (docs/tiles.md): a DiT without an edge (periodic position embedding, circular token
    # conv) that learns from each tile whether it wraps along x and y, so `generate --tileable`
    # asks for tiles that wrap and they keep the data's phase (bricks where the data has them).
    wrap_condition: bool = False
    # Decided by training (the data, the autoencoder, the classes found); a saved config.json
    # carries them. A value in a config file is replaced.
    input_size: int | None = None
    in_channels: int | None = None
    num_classes: int | None = None

    def resolved(self, input_size: int, in_channels: int, num_classes: int) -> "ModelSection":
        """This section as the network it builds: no preset, every size explicit (what a model
        directory saves). An unconditional model has no label dropout."""
        from ldm_sprites.diffusion.dit import PRESETS

        if self.preset and self.preset not in PRESETS:
            raise ValueError(f"unknown preset '{self.preset}'; choose one of {', '.join(PRESETS)}")
        preset = PRESETS[self.preset] if self.preset else {}
        sizes = {k: preset.get(k) if getattr(self, k) is None else getattr(self, k)
                 for k in ("hidden_size", "depth", "num_heads")}
        return replace(self, preset=None, input_size=input_size, in_channels=in_channels,
                       num_classes=num_classes,
                       class_dropout=self.class_dropout if num_classes else 0.0, **sizes)


@dataclass
class DiffusionSection:
    # cosine keeps more signal at mid t than linear: better for small images
    schedule: str = choice("cosine", "cosine", "linear")
    timesteps: int = 1000
    prediction: str = choice("eps", "eps", "v")
    timestep_bias: float = 0.0       # > 0 samples late (noisy) timesteps more often
    # > 0: Min-SNR-γ loss weighting (5 in the paper); 0 = plain MSE
    min_snr_gamma: float = bounded(0.0, ge=0, name="diffusion.min_snr_gamma",
                                   hint="(0 = plain MSE, 5 = the Min-SNR paper's value)")
    # > 0: the EMA weights at the first checkpoint at or after this step are kept in every later
    # checkpoint as guide.safetensors, the "bad version" that autoguidance (sample.autoguidance)
    # guides the finished model with; 0 = no guide. Pick a checkpoint step (checkpoint_every).
    guide_step: int = bounded(0, ge=0, name="diffusion.guide_step",
                              hint="(0 = no guide; e.g. a twelfth of the run's steps)")


@dataclass
class DataSection(DataSpec):
    """The spec (size, channels, resample, background, label_column) plus augmentation."""

    flip: bool = True                # most sprites are fine mirrored; no blur/rotation (destroys pixel art)
    hue_jitter: float = 0.0          # off by default: colour often *is* the class (fire = red)
    # Tiles: train on a random wrap-around shift of each tile (a permutation of its pixels), so
    # the model sees every seam in the middle of the picture and learns tiles that repeat. In
    # latent mode each tile is encoded as it repeats (circular padding) at every sub-cell phase
    # and its latent rolled by whole cells, which is exactly the latent of the shifted tile.
    # Off by default: for sprites the wrap-around would teach split sprites (docs/tiles.md).
    circular_shift: bool = False
    max_bad_fraction: float = 0.1


def sigma_interval(sigma_min: float, sigma_max: float) -> tuple[float, float] | None:
    """Config values -> the ``interval`` of ``GuidedDenoiser``: both 0 means guide every step,
    ``sigma_max`` 0 means no upper limit."""
    if sigma_min <= 0 and sigma_max <= 0:
        return None
    return (float(sigma_min), float(sigma_max))


@dataclass
class SampleSection:
    # UniPC at 12 log-SNR-uniform steps: the same FD and cleanliness as DPM-Solver++(2M) at 25
    # uniform steps on the demo model and much better FD on pokemon-sprites (uniform steps are
    # sparse at low noise, where sprite detail is decided), with half the model evaluations;
    # docs/benchmarks.md "Faster sampling". Models saved with other values keep theirs.
    sampler: str = choice("unipc", *SAMPLER_NAMES)
    steps: int = 12
    guidance: float = 3.0
    eta: float = 0.0
    init_noise: str = choice("standard", *INIT_NOISE)
    # Guide only where sigma = sqrt((1-ab)/ab) lies in (min, max]; max 0 = no upper limit.
    guidance_sigma_min: float = 0.0
    guidance_sigma_max: float = 0.0
    # Class transfer (`vary --class` below strength 1) keeps the input's colours unless guided
    # harder than generation: colour is what survives noising best. At strength 0.6 on 60
    # non-fire demo sprites, 5 turned 100 % to fire colours through an RGB decoder (guidance 3:
    # 57 %); the bundled model's palette decoder needs 7 (5: 83 %, 3: 38 %), which its config
    # records (docs/benchmarks.md, "Editing").
    transfer_guidance: float = 5.0
    spacing: str = choice("logsnr", *SPACINGS)  # NoiseSchedule.spaced_timesteps
    # Variations and class transfer below strength 1 (SDEdit) start mid-way and need steps at mid
    # noise, where log-SNR spacing has few: with UniPC 12 log-SNR, `vary --class fire --strength
    # 0.6` turned 38 % of 60 demo sprites to fire colours, with these 100 % (docs/benchmarks.md,
    # "Editing"). Used when the user sets none of sampler, steps and spacing.
    vary_sampler: str = choice("dpmpp", *SAMPLER_NAMES)
    vary_steps: int = 25
    vary_spacing: str = choice("uniform", *SPACINGS)
    # Autoguidance weight (GuidedDenoiser) for models with a guide (diffusion.guide_step,
    # `bundle --guide`); 1 = off. 3, added to classifier-free guidance 3: pokemon-sprites FD 146
    # and the demo model 156 against 182 / 175 without it, class agreement kept; 4 over-sharpens,
    # 5 breaks (docs/benchmarks.md, stop 26).
    autoguidance: float = bounded(3.0, ge=1, name="sample.autoguidance", hint="(1 = off)")

    @property
    def guidance_interval(self) -> tuple[float, float] | None:
        return sigma_interval(self.guidance_sigma_min, self.guidance_sigma_max)


@dataclass
class DiffusionConfig:
    model: ModelSection = field(default_factory=ModelSection)
    diffusion: DiffusionSection = field(default_factory=DiffusionSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    sample: SampleSection = field(default_factory=SampleSection)



# --- a model directory's config.json ---------------------------------------------------------------


@dataclass
class AutoencoderRef:
    """The autoencoder a latent model decodes with, as its config.json records it."""

    path: str | None = None      # relative: inside the model directory (bundled models: "ae")
    hash: str | None = None      # modeldir.hash_model_dir of that directory
    # The latent space: autoencoder.handle.encoder_hash of its weights (format 1 recorded none).
    encoder: str | None = None


@dataclass
class GuideEntry:
    """The autoguidance guide a model directory carries (weights: guide.safetensors)."""

    model: ModelSection = field(default_factory=ModelSection)   # the guide's resolved DiT
    step: int | None = None      # the training step its EMA weights are from
    source: str | None = None    # the model directory it was taken from (``bundle --guide``)


@dataclass
class SavedDiffusion(DiffusionConfig):
    """A diffusion model directory's config.json: the schema's sections as trained, and what
    training decided (``modeldir`` adds format_version and the file hashes)."""

    kind: str = "diffusion"
    space: str = choice("pixel", "pixel", "latent")
    step: int | None = None
    x0_clip: float | None = None      # bound for x̂_0 while sampling (None: pixels' 1)
    ae: AutoencoderRef | None = None  # latent models
    guide: GuideEntry | None = None

    def to_json(self) -> dict:
        """What ``read_saved`` reads back (``save_model_dir`` writes it as config.json)."""
        return asdict(self)


def read_saved(saved: dict, where: str = "config.json") -> SavedDiffusion:
    """The typed config of a diffusion model directory (``where`` names it in errors): sections
    and keys an older directory lacks take the schema's defaults, except what the schema could
    not have said then (below); unknown keys are errors, as in a config file."""
    names = {f.name for f in fields(SavedDiffusion)}
    saved = copy.deepcopy({k: v for k, v in saved.items() if k in names})
    for section in ("model", "guide"):   # a saved architecture names no preset: sizes are explicit
        sub = saved.get(section)
        if section == "guide" and isinstance(sub, dict):
            sub = sub.get("model")
        if isinstance(sub, dict):
            sub.setdefault("preset", None)
    sample = saved.get("sample")
    if isinstance(sample, dict) and "sampler" in sample and "spacing" not in sample:
        saved["sample"] = {**sample, "spacing": "uniform"}  # saved before spacing existed: uniform
    ae = saved.get("ae")
    if isinstance(ae, dict):
        # Format 1's claim of a latent space: a config field anyone could copy, never trusted.
        saved["ae"] = {k: v for k, v in ae.items() if k != "latent_space"}
    try:
        return from_saved(SavedDiffusion, saved)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise UserError(f"{where} is not a diffusion model config ({exc})") from None
