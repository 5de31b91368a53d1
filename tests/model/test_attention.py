"""Both attention backends against softmax attention built from the module's own weights."""

import copy
import math

import torch
import torch.nn.functional as F

from sclong.model import EncoderConfig
from sclong.model.attention import ExactAttention, build_encoder

WIDTH, HEADS, DIM_HEAD, TOKENS = 16, 2, 8, 10


def encoder(attention: str, nb_features: int = 16, depth: int = 1, interval: int | None = 1000):
    torch.manual_seed(0)
    config = EncoderConfig(depth=depth, heads=HEADS, dim_head=DIM_HEAD, hidden=WIDTH, nb_features=nb_features,
                           feature_redraw_interval=interval, attention=attention)
    return build_encoder(config).eval()


def reference_attention(attn, x):
    """softmax(q k^T / sqrt(d)) v per head, then the output projection."""
    def heads(t):
        return t.view(x.shape[0], x.shape[1], HEADS, DIM_HEAD).transpose(1, 2)

    q, k, v = heads(attn.to_q(x)), heads(attn.to_k(x)), heads(attn.to_v(x))
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(DIM_HEAD), dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], HEADS * DIM_HEAD)
    return attn.to_out(out)


def reference_block(block, x):
    """Pre-LN residual attention then pre-LN residual GELU feed-forward."""
    attn_norm, ff_norm = block[0], block[1]
    x = x + reference_attention(attn_norm.fn, attn_norm.norm(x))
    ff = ff_norm.fn.fn
    return x + ff.w2(F.gelu(ff.w1(ff_norm.norm(x))))


def inputs():
    return torch.randn(2, TOKENS, WIDTH, generator=torch.Generator().manual_seed(3))


def test_sdpa_matches_softmax_reference():
    model = encoder("sdpa", depth=2)
    x = inputs()
    expected = x
    for block in model.net.layers:
        expected = reference_block(block, expected)
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)


def test_performer_approximates_softmax_with_many_features():
    """FAVOR+ with 1024 orthogonal random features on dim_head 8: ~1-1.5% relative error.

    The error plateaus there (same at 256 or 8192 features): performer-pytorch's eps=1e-4 kernel
    stabiliser, not the number of features, bounds it.
    """
    model = encoder("performer", nb_features=1024)
    attn_norm = model.net.layers[0][0]
    x = attn_norm.norm(inputs()) * 0.5
    with torch.no_grad():
        got, expected = attn_norm.fn(x), reference_attention(attn_norm.fn, x)
    relative = (got - expected).norm() / expected.norm()
    assert relative < 0.03, float(relative)


def test_backends_share_parameter_names():
    performer, sdpa = encoder("performer"), encoder("sdpa")
    assert dict(performer.named_parameters()).keys() == dict(sdpa.named_parameters()).keys()
    extra = set(performer.state_dict()) - set(sdpa.state_dict())
    assert extra and all(key.endswith("fast_attention.projection_matrix") for key in extra)
    assert any(isinstance(m, ExactAttention) for m in sdpa.modules())
    sdpa.load_state_dict(performer.state_dict(), strict=False)
    for (_, a), (_, b) in zip(performer.named_parameters(), sdpa.named_parameters(), strict=True):
        assert torch.equal(a, b)


def test_state_dict_lists_each_weight_once():
    model = encoder("performer")
    assert not any("proj_updater.instance" in key for key in model.state_dict())


def test_random_features_redraw_only_in_training():
    model = encoder("performer", interval=2)
    matrix = model.net.layers[0][0].fn.fast_attention.projection_matrix
    start = matrix.clone()
    x = inputs()
    with torch.no_grad():
        for _ in range(4):
            model(x)
        assert torch.equal(matrix, start)
        model.train()
        for _ in range(3):
            model(x)
    assert not torch.equal(matrix, start)


def test_deepcopy_keeps_redraw_pointing_at_its_own_blocks():
    model = encoder("performer")
    clone = copy.deepcopy(model)
    assert clone.proj_updater.instance is clone.net
    assert model.proj_updater.instance is model.net
