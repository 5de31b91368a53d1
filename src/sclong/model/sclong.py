"""The scLong module: gene + expression encoders, dual Performer, full-length Performer, decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sclong.model.attention import build_encoder
from sclong.model.config import ModelConfig
from sclong.model.encoders import Decoder, ExpressionEncoder
from sclong.model.gene_encoder import GeneEncoder


@dataclass
class ScLongOutput:
    """What one forward pass returns (B cells, G = ``n_genes`` genes, in gene order).

    ``reconstruction`` [B, G]: predicted value per gene (0 where ``predicted`` is False).
    ``predicted`` [B, G] bool: genes with a prediction; all True unless ``use_leg=False``, where only
    each cell's top-k genes (ranked on the unmasked values, masked ones included) are encoded.
    ``representations`` [B, G, gene_dim]: full-length Performer output, "the scLong representations"
    (zero vectors where ``predicted`` is False).
    """

    reconstruction: torch.Tensor
    predicted: torch.Tensor
    representations: torch.Tensor


def rank_elements(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-cell gene indices [B, G] in descending order of the masked input.

    Masked positions rank last (their values are hidden, so they go to the mini encoder); ties keep
    the lower gene index first (stable sort), so the split is deterministic.
    """
    keys = values.float().masked_fill(mask, float("-inf"))
    return torch.sort(keys, dim=1, descending=True, stable=True).indices


class ScLong(nn.Module):
    """scLong (Bai et al. 2026).

    Each element (gene g of a cell) starts as expression-encoder(value) + gene vector g. Elements are
    ranked per cell on the masked input; the ``top_k`` highest go through Linear(gene_dim -> large
    width), the large Performer and Linear(large width -> gene_dim), the rest through the mini
    Performer; results return to gene order and pass the full-length Performer over all genes, whose
    output is decoded into one value per gene. Ranking uses the masked input (masked genes rank last,
    so they go to the mini encoder), except without the mini encoder (``use_leg=False``, the w/o-LEG
    ablation): the cell is then reduced to its top-k genes of the unmasked input, masked ones included,
    and only those are encoded, passed to the full-length Performer and predicted.
    ``gene2vec`` [n_genes, gene_dim] initialises the gene table; ``edge_index`` [2, E] /
    ``edge_weight`` [E] are the GO graph.
    """

    def __init__(
        self,
        config: ModelConfig,
        gene2vec: torch.Tensor,
        edge_index: torch.Tensor,
        edge_weight: torch.Tensor,
    ) -> None:
        super().__init__()
        if tuple(gene2vec.shape) != (config.n_genes, config.gene_dim):
            raise ValueError(f"gene2vec has shape {tuple(gene2vec.shape)}, expected "
                             f"({config.n_genes}, {config.gene_dim})")
        self.config = config
        dim = config.gene_dim
        self.gene_encoder = GeneEncoder(gene2vec, edge_index, edge_weight, use_go=config.use_go)
        self.gene2vec_term = nn.Parameter(gene2vec.detach().clone().float()) if config.extra_gene_terms else None
        self.expression_encoder = ExpressionEncoder(dim, config.expr_hidden)
        self.project_in = nn.Linear(dim, config.large.hidden)
        self.large = build_encoder(config.large)
        self.project_out = nn.Linear(config.large.hidden, dim)
        self.mini = build_encoder(config.mini) if config.use_leg else None
        self.full = build_encoder(config.full)
        self.decoder = Decoder(dim, config.n_genes, gene_specific=config.decoder == "gene_specific")

    def gene_vectors(self) -> torch.Tensor:
        """[n_genes, gene_dim] gene term added to every element (GCN output; plus Gene2vec if extra)."""
        genes = self.gene_encoder()
        if self.gene2vec_term is not None:
            genes = genes + self.gene2vec_term
        return genes

    def forward(self, values: torch.Tensor, mask: torch.Tensor | None = None) -> ScLongOutput:
        """``values`` [B, G] float32 (normalised expression), ``mask`` [B, G] bool ([MASK] positions)."""
        batch, n_genes = values.shape
        if n_genes != self.config.n_genes:
            raise ValueError(f"values have {n_genes} genes, the model {self.config.n_genes}")
        if mask is None:
            mask = torch.zeros_like(values, dtype=torch.bool)
        genes = self.gene_vectors()
        elements = self.expression_encoder(values, mask) + genes
        # w/o LEG keeps each cell's top-k genes of the unmasked input and masks within them: ranking on
        # the masked input would leave masked genes without a prediction, so nothing could be learned.
        order = rank_elements(values, mask if self.mini is not None else torch.zeros_like(mask))
        k = self.config.top_k  # below n_genes with the mini encoder, at most n_genes without (ModelConfig)
        top = order[:, :k]
        high = self.project_out(self.large(self.project_in(_gather(elements, top))))
        if self.mini is None:
            return self._forward_top_only(high, top, genes, batch, n_genes)
        low = self.mini(_gather(elements, order[:, k:]))
        inverse = torch.empty_like(order).scatter_(1, order, _positions(order))
        merged = _gather(torch.cat([high, low], dim=1), inverse)
        if self.gene2vec_term is not None:
            merged = merged + genes
        representations = self.full(merged)
        return ScLongOutput(
            reconstruction=self.decoder(representations),
            predicted=torch.ones_like(mask),
            representations=representations,
        )

    def _forward_top_only(
        self, high: torch.Tensor, top: torch.Tensor, genes: torch.Tensor, batch: int, n_genes: int
    ) -> ScLongOutput:
        """w/o LEG: the full-length Performer sees only the top-k elements; the rest stay empty."""
        if self.gene2vec_term is not None:
            high = high + genes[top]
        encoded = self.full(high)
        reconstruction = self.decoder(encoded, top)
        shape = (batch, n_genes)
        return ScLongOutput(
            reconstruction=reconstruction.new_zeros(shape).scatter(1, top, reconstruction),
            predicted=torch.zeros(shape, dtype=torch.bool, device=top.device).scatter(1, top, True),
            representations=encoded.new_zeros(*shape, encoded.shape[-1]).scatter(
                1, top.unsqueeze(-1).expand_as(encoded), encoded
            ),
        )

    def cell_embedding(self, values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """[B, gene_dim + 1] cell vectors: v = sum over genes g of [E_g ; x'_g] (paper, batch integration).

        E_g is the full-length representation and x'_g the reconstructed value of gene g; genes
        without a prediction (w/o LEG) contribute zero. Call under ``torch.no_grad()`` / ``eval()``
        for inference.
        """
        return cell_vectors(self(values, mask))


def cell_vectors(out: ScLongOutput) -> torch.Tensor:
    """Sum-pool [representation ; reconstruction] over the predicted genes of each cell -> [B, D + 1]."""
    stacked = torch.cat([out.representations, out.reconstruction.unsqueeze(-1)], dim=-1)
    return (stacked * out.predicted.unsqueeze(-1)).sum(dim=1)


@torch.no_grad()
def randomize_mini_encoder(model: ScLong, seed: int) -> ScLong:
    """Random-LEG ablation: redraw every mini-encoder parameter from N(0, 1) in place; returns ``model``."""
    if model.mini is None:
        raise ValueError("the model has no mini encoder (use_leg=False)")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    for parameter in model.mini.parameters():
        draw = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
        parameter.copy_(draw.to(parameter.device, parameter.dtype))
    return model


def _gather(elements: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``elements[b, index[b, n], :]`` -> [B, N, D]."""
    return torch.gather(elements, 1, index.unsqueeze(-1).expand(-1, -1, elements.shape[-1]))


def _positions(order: torch.Tensor) -> torch.Tensor:
    return torch.arange(order.shape[1], device=order.device).expand_as(order)
