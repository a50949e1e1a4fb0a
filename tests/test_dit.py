import pytest
import torch

from ldm_sprites.diffusion.dit import PRESETS, DiT, DiTConfig, LabelEmbedder, build_dit


def test_forward_shape_any_channel_count():
    for c in (1, 3, 4, 8):
        m = DiT(DiTConfig(input_size=16, in_channels=c, patch_size=4, hidden_size=32, depth=1,
                          num_heads=2, num_classes=3))
        x = torch.randn(2, c, 16, 16)
        assert m(x, torch.tensor([0, 999]), torch.tensor([0, 3])).shape == x.shape


def test_adaln_zero_init_outputs_zero():
    m = build_dit("nano", input_size=16, in_channels=4, patch_size=2, num_classes=2)
    out = m(torch.randn(3, 4, 16, 16), torch.tensor([1, 2, 3]), torch.tensor([0, 1, 2]))
    assert torch.count_nonzero(out) == 0
    for block in m.blocks:
        assert torch.count_nonzero(block.adaLN_modulation[-1].weight) == 0


def adaln_zero_dit_parameters(d: int, depth: int, c: int, p: int, classes: int,
                              mlp_ratio: float = 4.0, freq: int = 256) -> int:
    """Parameters of a DiT with adaLN-Zero (Peebles & Xie 2023), counted from the paper's layers:
    patch stem, timestep MLP on a 256-d sinusoid, label table with a null class, and per block
    qkv + projection, the MLP and the 6d modulation; the final layer's 2d modulation and linear."""
    m = int(d * mlp_ratio)
    block = (d * 3 * d + 3 * d) + (d * d + d) + (d * m + m) + (m * d + d) + (d * 6 * d + 6 * d)
    embed = (c * p * p * d + d) + (freq * d + d) + (d * d + d) + (classes + 1) * d
    final = (d * 2 * d + 2 * d) + (d * p * p * c + p * p * c)
    return embed + depth * block + final


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build_an_adaln_zero_dit_over_one_token_per_patch(name):
    """Every preset is the DiT the paper describes: its parameter count is the layer-by-layer
    count, it attends over (input / patch)^2 tokens, and its width splits into whole heads."""
    m = build_dit(name, input_size=64, in_channels=4, patch_size=4, num_classes=18)
    cfg = m.config
    assert sum(p.numel() for p in m.parameters()) == adaln_zero_dit_parameters(
        cfg.hidden_size, cfg.depth, 4, 4, 18, cfg.mlp_ratio)
    tokens = m.x_embedder(torch.zeros(1, 4, 64, 64)).flatten(2).shape[-1]
    assert tokens == cfg.num_tokens == m.pos_embed.shape[1] == (64 // 4) ** 2
    assert cfg.hidden_size % cfg.num_heads == 0 and len(m.blocks) == cfg.depth


def test_presets_grow_in_size_and_cover_the_configs_names():
    assert set(PRESETS) >= {"nano", "tiny", "small", "ddpm", "base"}
    sizes = [sum(p.numel() for p in build_dit(n, input_size=16, patch_size=2).parameters())
             for n in ("nano", "tiny", "small", "ddpm", "base")]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


@pytest.mark.parametrize("mlp_conv", [False, True])
def test_flops_per_image_is_what_torch_counts(mlp_conv):
    """The formula training prints (GFLOP per image forward) against torch's own count of one
    forward pass, attention included."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    m = build_dit("tiny", input_size=16, in_channels=4, patch_size=2, num_classes=3,
                  mlp_conv=mlp_conv).eval()
    counter = FlopCounterMode(display=False)
    with counter, sdpa_kernel(SDPBackend.MATH), torch.no_grad():
        m(torch.randn(1, 4, 16, 16), torch.tensor([500]), torch.tensor([0]))
    assert m.flops_per_image() == pytest.approx(counter.get_total_flops(), rel=0.05)


def test_token_drop_replaces_labels_with_null_class_at_the_given_rate():
    emb = LabelEmbedder(num_classes=5, hidden_size=8, dropout_prob=0.3)
    labels = torch.zeros(20000, dtype=torch.long)
    dropped = emb.token_drop(labels, torch.Generator().manual_seed(0))
    share = (dropped == 5).float().mean().item()
    assert share == pytest.approx(0.3, abs=0.02)
    assert set(dropped.unique().tolist()) == {0, 5}


def test_label_dropout_only_in_training_mode():
    m = build_dit("nano", input_size=8, in_channels=4, patch_size=2, num_classes=2,
                  class_dropout=1.0)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([5, 5]), torch.tensor([0, 1])
    m.eval()
    cond = m(x, t, y)
    null = m(x, t, torch.tensor([2, 2]))
    m.train()
    dropped = m(x, t, y, train=True, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(dropped, null)
    assert not torch.allclose(cond, null)


def test_bad_geometry_is_rejected():
    with pytest.raises(ValueError, match="divisible"):
        DiT(DiTConfig(input_size=10, patch_size=4))
    with pytest.raises(ValueError, match="preset"):
        build_dit("huge")


def test_mlp_conv_starts_as_the_plain_mlp_and_mixes_neighbours_once_trained():
    kw = dict(input_size=8, in_channels=4, patch_size=2, num_classes=2)
    plain, conv = build_dit("nano", **kw), build_dit("nano", mlp_conv=True, **kw)
    for p in plain.parameters():  # leave adaLN-Zero so the blocks do something
        torch.nn.init.normal_(p, std=0.05)
    # The same weights under the conv MLP's names (fc1, fc2 for the Sequential's 0, 2).
    renamed = {k.replace(".mlp.0.", ".mlp.fc1.").replace(".mlp.2.", ".mlp.fc2.")
               if k.startswith("blocks.") else k: v
               for k, v in plain.state_dict().items()}
    missing, unexpected = conv.load_state_dict(renamed, strict=False)
    assert not unexpected and missing and all("dwconv" in k for k in missing)
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([3, 700]), torch.tensor([0, 1])
    torch.testing.assert_close(conv(x, t, y), plain(x, t, y))  # zero-initialised conv
    # Once the conv has weights, a change in one token reaches its grid neighbours in the
    # first block's MLP, which the plain MLP (token-wise) never does.
    block = conv.blocks[0]
    torch.nn.init.normal_(block.mlp.dwconv.weight, std=0.1)
    h = torch.zeros(1, conv.grid ** 2, conv.config.hidden_size)
    h2 = h.clone()
    h2[0, 0] += 1.0                           # token (0, 0) of the 4x4 grid
    diff = (block.mlp(h2) - block.mlp(h)).abs().sum(-1)[0].reshape(4, 4)
    assert diff[0, 1] > 0 and diff[1, 1] > 0  # neighbours see it
    assert diff[2, 2] == 0 and diff[0, 3] == 0  # tokens two or more cells away do not
    assert conv.flops_per_image() > plain.flops_per_image()
