"""Performer stacks with a selectable attention backend.

Both backends build performer-pytorch's :class:`~performer_pytorch.Performer` (pre-LayerNorm,
self-attention with biased q/k/v projections, pre-LayerNorm GELU feed-forward, no dropout), so their
parameter names coincide. ``performer`` keeps FAVOR+ (softmax kernel, ``nb_features`` random
features, redrawn every ``feature_redraw_interval`` training calls); ``sdpa`` swaps each
``fast_attention`` for exact softmax attention through
:func:`torch.nn.functional.scaled_dot_product_attention`. The two state dicts differ only in the
FAVOR+ ``...fast_attention.projection_matrix`` buffers, which ``sdpa`` does not have.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from sclong.model.config import EncoderConfig

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # performer-pytorch imports deprecated torch.cuda.amp / distutils
    from performer_pytorch import Performer
    from performer_pytorch.performer_pytorch import FastAttention


class ExactAttention(nn.Module):
    """Drop-in for FAVOR+ ``FastAttention``: exact softmax(q k^T / sqrt(d)) v on [B, H, N, D] tensors."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v)


def build_encoder(config: EncoderConfig) -> Performer:
    """A Performer of ``config.depth`` blocks at width ``config.hidden`` with the configured backend."""
    with _meta_safe():
        encoder = Performer(
            dim=config.hidden,
            depth=config.depth,
            heads=config.heads,
            dim_head=config.dim_head,
            ff_mult=config.ff_mult,
            nb_features=config.nb_features,
            feature_redraw_interval=config.feature_redraw_interval,
        )
    _unregister_alias(encoder)
    if config.attention == "sdpa":
        for module in encoder.modules():
            if isinstance(getattr(module, "fast_attention", None), FastAttention):
                module.fast_attention = ExactAttention()
    return encoder


def _unregister_alias(encoder: Performer) -> None:
    """Keep ``proj_updater.instance`` (an alias of ``encoder.net``) as a plain attribute, not a submodule.

    performer-pytorch registers the same blocks twice, which would list every weight twice in the
    state dict (and break safetensors); the redraw logic only needs the reference.
    """
    updater = encoder.proj_updater
    net = updater._modules.pop("instance")
    object.__setattr__(updater, "instance", net)


class _KeepMeta(TorchFunctionMode):
    """Let ``Tensor.cpu()`` return meta tensors unchanged (FAVOR+ draws its matrix through the CPU)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.Tensor.cpu and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _meta_safe() -> Iterator[None]:
    """Allow building under ``with torch.device("meta")``; a no-op on real devices."""
    if torch.empty(0).is_meta:
        with _KeepMeta():
            yield
    else:
        yield
