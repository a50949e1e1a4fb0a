"""Stage one of two-stage latent diffusion: sprite autoencoders (KL, VQ, FSQ).

``ldmsprites train-ae`` and ``api.train_ae`` train one (``task.AutoencoderTask`` on the shared
trainer, run by ``training/ae_run.py``); latent-mode ``train-diffusion --ae`` and ``generate``
use it through this API:

* ``AutoencoderHandle.from_pretrained(path, device)`` (``load_autoencoder`` for short) -> handle
  with ``encode``/``decode`` of *scaled* latents, ``data_spec`` (a ``DataSpec``), ``downsample``,
  ``latent_channels``, ``scale_factor``, ``reference()`` (path, content hash, ``encoder_hash``:
  the latent space, from the encoder's weights); ``save_pretrained(dir)`` writes one;
* ``encode_dataset(handle, sprite_data, cache_dir, flip)`` -> cached (views, N, C, h, w) latents;
* ``load_autoencoder_for(model_path, ref, device, override)`` -> the handle a latent diffusion
  model was trained with, checked by content hash (an ``override`` decoder: by its encoder's).
"""

from ldm_sprites.autoencoder.handle import (AutoencoderHandle, load_autoencoder,
                                            load_autoencoder_for)
from ldm_sprites.autoencoder.latents import encode_dataset

__all__ = ["AutoencoderHandle", "load_autoencoder", "load_autoencoder_for", "encode_dataset"]
