"""YAML configs -> typed dataclasses, with safe loading and helpful errors for typos.

A config file has one mapping per section (``model:``, ``diffusion:``, ``data:``, ``train:``,
``sample:``); any key left out takes the dataclass default, and command-line options override the
file. Unknown keys are errors (with the closest valid name), so a typo never silently trains the
wrong thing.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from ldm_sprites.errors import UserError


@dataclass
class ModelSection:
    preset: str | None = "tiny"
    patch_size: int = 2
    hidden_size: int | None = None   # None: from the preset
    depth: int | None = None
    num_heads: int | None = None
    mlp_ratio: float = 4.0
    class_dropout: float = 0.1       # label dropout for classifier-free guidance


@dataclass
class DiffusionSection:
    schedule: str = "cosine"         # cosine keeps more signal at mid t than linear: better for small images
    timesteps: int = 1000
    prediction: str = "eps"
    timestep_bias: float = 0.0       # > 0 samples late (noisy) timesteps more often
    min_snr_gamma: float = 0.0       # > 0: Min-SNR-γ loss weighting (5 in the paper); 0 = plain MSE


@dataclass
class DataSection:
    size: int = 32
    channels: int = 4
    resample: str = "nearest"        # pixel art must not be blurred
    background: str = "#ffffff"      # composite colour for channels: 3
    label_column: str | None = None
    flip: bool = True                # most sprites are fine mirrored; no blur/rotation (destroys pixel art)
    hue_jitter: float = 0.0          # off by default: colour often *is* the class (fire = red)
    max_bad_fraction: float = 0.1


@dataclass
class TrainSection:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    mixed_precision: str = "no"      # no | bf16 | fp16 (GPU only; fp32 is faster on CPUs)
    checkpoint_every: int = 500
    sample_every: int = 500
    log_every: int = 10
    keep_checkpoints: int = 2
    compile: bool = False            # torch.compile: small gain on CPU (~5 %), minutes to compile


def sigma_interval(sigma_min: float, sigma_max: float) -> tuple[float, float] | None:
    """Config values -> the ``interval`` of ``GuidedDenoiser``: both 0 means guide every step,
    ``sigma_max`` 0 means no upper limit."""
    if sigma_min <= 0 and sigma_max <= 0:
        return None
    return (float(sigma_min), float(sigma_max))


@dataclass
class SampleSection:
    sampler: str = "dpmpp"
    steps: int = 25
    guidance: float = 3.0
    eta: float = 0.0
    init_noise: str = "standard"     # standard | harmonic
    # Guide only where sigma = sqrt((1-ab)/ab) lies in (min, max]; max 0 = no upper limit.
    guidance_sigma_min: float = 0.0
    guidance_sigma_max: float = 0.0
    # Class transfer (`vary --class` below strength 1) keeps the input's colours unless guided
    # harder than generation: colour is what survives noising best. 5 turned 100 % of 60 demo
    # sprites to fire colours at strength 0.6 (guidance 3: 57 %); see docs/benchmarks.md.
    transfer_guidance: float = 5.0
    spacing: str = "uniform"         # uniform | karras | logsnr (NoiseSchedule.spaced_timesteps)

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


CHOICES = {
    "diffusion.schedule": ("cosine", "linear"),
    "diffusion.prediction": ("eps", "v"),
    "data.channels": (3, 4),
    "data.resample": ("nearest", "area", "lanczos"),
    "train.mixed_precision": ("no", "bf16", "fp16"),
    "sample.sampler": ("ddpm", "ddim", "dpmpp", "dpmpp3m", "unipc"),  # options.SAMPLER_NAMES
    "sample.spacing": ("uniform", "karras", "logsnr"),
    "sample.init_noise": ("standard", "harmonic"),
}


def _coerce(value, typ, where: str):
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        typ = next(a for a in args if a is not type(None))
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"config {where}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise UserError(f"config {where}: expected a whole number, got {value!r}")
        return int(value)
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UserError(f"config {where}: expected a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise UserError(f"config {where}: expected a number, got {value!r}") from None
    if typ is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise UserError(f"config {where}: expected text, got {value!r}")
        return str(value)
    return value


def from_dict(cls, data: dict, where: str = ""):
    """Build dataclass ``cls`` from a (possibly partial) nested dict, checking names and types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"config {where or 'file'}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(f"config: unknown key '{where + '.' if where else ''}{key}'{hint}; "
                            f"valid keys: {', '.join(names)}")
        typ = hints[key]
        path = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(typ):
            kwargs[key] = from_dict(typ, value, path)
        else:
            kwargs[key] = _coerce(value, typ, path)
            allowed = CHOICES.get(path)
            if allowed and kwargs[key] not in allowed:
                raise UserError(f"config {path}: {kwargs[key]!r} is not one of "
                                f"{', '.join(map(str, allowed))}")
    return cls(**kwargs)


def load_yaml(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist (see configs/ for examples)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # safe: no object construction
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"config file {path} is not valid YAML: {first}") from None
    return data or {}


def load_config(path: str | Path | None, cls=DiffusionConfig):
    return from_dict(cls, load_yaml(path) if path else {})


def apply_overrides(cfg, overrides: dict):
    """Set dotted keys (``"train.steps": 100``) whose value is not None; validates like the file."""
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, key = dotted.split(".")
        sec = getattr(cfg, section)
        typ = typing.get_type_hints(type(sec))[key]
        value = _coerce(value, typ, dotted)
        allowed = CHOICES.get(dotted)
        if allowed and value not in allowed:
            raise UserError(f"{dotted}: {value!r} is not one of {', '.join(map(str, allowed))}")
        setattr(sec, key, value)
    return cfg


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def check_ranges(cfg) -> None:
    """Range checks shared by every config with train: and data: sections (DiT and AE)."""
    t, d = cfg.train, cfg.data
    if t.steps < 1:
        raise UserError("--steps must be at least 1")
    if t.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if not (0 < t.lr < 1):
        raise UserError(f"--lr {t.lr} is out of range; typical values are 1e-4 to 1e-3")
    if d.size < 8 or d.size > 512:
        raise UserError(f"--size {d.size} is out of range (8 to 512 pixels)")
    if t.checkpoint_every < 1:
        raise UserError("checkpoint_every must be at least 1")
    gamma = getattr(getattr(cfg, "diffusion", None), "min_snr_gamma", 0.0)
    if gamma < 0:
        raise UserError(f"diffusion.min_snr_gamma {gamma} must be >= 0 (0 = plain MSE, 5 = the "
                        "Min-SNR paper's value)")
