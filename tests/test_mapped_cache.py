"""The sprite and latent caches are memory maps: their bytes are file-backed pages, never a copy
in the process's anonymous memory, and the files stay plain safetensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ldm_sprites.data.mapped import chunked_abs_max, create_safetensors, map_safetensors


def _status(key: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status on this system")


def _mapped_from(t: torch.Tensor, path) -> bool:
    """Is ``t``'s memory inside a mapping of ``path`` (per /proc/self/maps)?"""
    ptr = t.data_ptr()
    with open("/proc/self/maps") as fh:
        for line in fh:
            if line.rstrip().endswith(str(path)):
                lo, hi = (int(v, 16) for v in line.split()[0].split("-"))
                if lo <= ptr < hi:
                    return True
    return False


def test_files_round_trip_through_safetensors(tmp_path):
    from safetensors.torch import load_file

    path = tmp_path / "x.safetensors"
    out = create_safetensors(path, {"a": (np.uint8, (5, 3)), "b": (np.float32, (2, 7)),
                                    "empty": (np.int64, (0,))}, metadata={"k": "v"})
    out["a"][:] = np.arange(15).reshape(5, 3)
    out["b"][:] = 0.5
    for arr in out.values():
        if isinstance(arr, np.memmap):
            arr.flush()
    del out
    ref = load_file(str(path))
    mapped, meta = map_safetensors(path)
    assert meta == {"k": "v"} and set(mapped) == {"a", "b", "empty"}
    for k in ref:
        assert torch.equal(ref[k], mapped[k])
    mapped["a"][0, 0] = 99          # copy-on-write: the file keeps its bytes
    assert load_file(str(path))["a"][0, 0] == 0
    assert chunked_abs_max(torch.tensor([[1.0, -3.0], [2.0, 0.5]]), chunk=1) == 3.0


def test_reading_a_mapped_cache_does_not_grow_anonymous_memory(tmp_path):
    path = tmp_path / "big.safetensors"
    n = 64 * 1024 * 1024   # 64 MB of "sprites"
    arr = create_safetensors(path, {"images": (np.uint8, (n // 4096, 4, 32, 32))})["images"]
    for i in range(0, arr.shape[0], 2048):
        arr[i:i + 2048] = i % 251
    arr.flush()
    del arr
    before = _status("RssAnon")
    images = map_safetensors(path)[0]["images"]
    total = sum(int(images[i:i + 1024].sum(dtype=torch.int64)) for i in range(0, len(images), 1024))
    batch = images[torch.randint(len(images), (256,))]   # what a training step gathers
    grown = _status("RssAnon") - before
    assert total > 0 and batch.shape == (256, 4, 32, 32)
    assert grown < 16, f"anonymous memory grew by {grown:.0f} MB reading a 64 MB cache"


def test_sprite_cache_is_mapped_and_reloads_identically(demo_dir, tmp_path):
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data

    spec = DataSpec(16, label_column="type")
    fresh = load_sprite_data(demo_dir, spec, cache_dir=tmp_path)
    again = load_sprite_data(demo_dir, spec, cache_dir=tmp_path)
    memory = load_sprite_data(demo_dir, spec, use_cache=False)
    assert fresh.cache_file == again.cache_file and fresh.cache_file.is_file()
    assert _mapped_from(again.images, again.cache_file)
    assert not _mapped_from(memory.images, again.cache_file)
    for d in (fresh, again):
        assert torch.equal(d.images, memory.images) and torch.equal(d.labels, memory.labels)
        assert d.classes == memory.classes
    assert [p.name for p in tmp_path.iterdir()] == [fresh.cache_file.name]   # no scratch left


def test_latent_cache_is_written_batch_by_batch_and_mapped(demo_dir, tmp_path):
    from ldm_sprites.autoencoder import encode_dataset, load_autoencoder
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.data.tensors import rgba_uint8_to_model
    from tests.hardening import fake_autoencoder

    ae = load_autoencoder(fake_autoencoder(tmp_path / "ae"), device="cpu")
    data = load_sprite_data(demo_dir, DataSpec(16, 4), cache_dir=tmp_path / "c")
    z = encode_dataset(ae, data, cache_dir=tmp_path / "c", flip=True)
    cache = next((tmp_path / "c").glob("latents-*.safetensors"))
    assert _mapped_from(z, cache)
    with torch.no_grad():
        x = rgba_uint8_to_model(data.images, 4)
        assert torch.allclose(z[0], ae.encode(x), atol=1e-6)
        assert torch.allclose(z[1], ae.encode(x.flip(-1)), atol=1e-6)
    again = encode_dataset(ae, data, cache_dir=tmp_path / "c", flip=True)
    assert torch.equal(again, z) and _mapped_from(again, cache)
