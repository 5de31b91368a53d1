"""DeepSEM (Shu et al. 2021) in torch, as its public code's cell-type-specific GRN task does it.

Read from ``HantaoShu/DeepSEM`` (``src/Model.py``, ``src/DeepSEM_cell_type_specific_GRN_model.py``,
``main.py``; the task the hESC benchmark uses, written for torch 1.2):

* Data: per gene, the mean and SD (ddof 0) of its non-zero values; ``x <- (x - mean) / SD``, NaN and
  infinite results set to 0 (a gene with one distinct non-zero value becomes 0 everywhere), clipped to
  [-10, 10] (computed in float64, then float32). The reconstruction loss counts only entries that were
  non-zero before (its dropout mask).
* Initial A (genes x genes, ``A[target, regulator]``): ``code``: 1/(n-1) + U(0, 2e-4) (``initalize_A``);
  ``paper``: U(0, 2e-4) (the papers' wording); the diagonal 0. Or a given matrix (the scLong variants).
* Model (``VAE_EAD`` with one Gaussian component, K = 1): W = I - (A with zero diagonal)^T. Encoder: per
  gene, [x, y] -> Linear(2, h) -> Tanh -> Linear(h, h) -> Tanh -> mu, log-variance (Linear(h, 1) each);
  both multiplied by W; z = mu + eps * sqrt(var + 1e-10). Decoder: per gene, z W^-1 (a real inverse,
  ``torch.linalg.inv``) -> Linear(1, h) -> Tanh -> Linear(h, h) -> Tanh -> Linear(h, 1) = reconstruction;
  prior mean and log-variance per gene from y through Linear(1, h) -> Tanh -> Linear(h, n_genes), times W.
  With K = 1 the Gumbel-softmax category y is identically 1 (a softmax over one class), so its encoder
  branch has no effect and is left out; its entropy term is the constant beta * log 10, left out too.
  Linear weights Xavier-normal, biases 0. float32 throughout, as DeepSEM (its ``.float()`` model).
* Loss: masked MSE + beta * mean over cells of [log N(z; mu, var) - log N(z; prior)] (each a mean over
  genes, variances + 1e-8) + alpha * mean |A|.
* Training: epochs ``0 .. epochs`` (``epochs + 1`` passes, as its loop), batches of shuffled cells; epoch
  ``e`` updates the networks (A frozen) when ``e mod (network_epochs + grn_epochs) < network_epochs``,
  else A only (networks frozen). RMSprop (torch defaults otherwise): networks at
  ``lr * lr_decay ** (e // lr_step)`` (torch 1.2's ``StepLR`` with step 0.99: one decay per epoch plus
  one extra from epoch 99), A at the constant ``lr_grn`` (DeepSEM: 0.2 * lr, not scheduled).

Randomness (initial A, weights, cell order, noise) comes from generators seeded with the run's seed.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn

from sclong.tasks.grn.settings import DeepSEMInit, DeepSEMSettings

log = logging.getLogger(__name__)

UNIFORM_HIGH = 2e-4
CLIP = 10.0


def standardize(expression: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeepSEM's cell-type-specific scaling of cells x genes values and the non-zero mask (module doc)."""
    values = np.asarray(expression, dtype=np.float64)
    mask = values != 0
    count = mask.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(mask, values, 0).sum(axis=0) / count
        sd = np.sqrt(np.where(mask, (values - mean) ** 2, 0).sum(axis=0) / count)
        sd[~np.isfinite(sd)] = 0
        scaled = (values - mean) / sd
    scaled[~np.isfinite(scaled)] = 0
    return np.clip(scaled, -CLIP, CLIP).astype(np.float32), mask.astype(np.float32)


def uniform_init(n_genes: int, init: DeepSEMInit, rng: np.random.Generator) -> np.ndarray:
    """DeepSEM's own initial A (``code``: 1/(n-1) + U(0, 2e-4); ``paper``: U(0, 2e-4)), diagonal 0."""
    matrix = rng.random((n_genes, n_genes)) * UNIFORM_HIGH
    if init == "code":
        matrix += 1.0 / (n_genes - 1)
    np.fill_diagonal(matrix, 0)
    return matrix.astype(np.float32)


class DeepSEM(nn.Module):
    """DeepSEM's ``VAE_EAD`` with one Gaussian component (module docstring); ``adj`` is A."""

    def __init__(self, init: np.ndarray, hidden: int, generator: torch.Generator) -> None:
        super().__init__()
        n_genes = len(init)
        self.adj = nn.Parameter(torch.tensor(init, dtype=torch.float32))
        self.register_buffer("off_diagonal", 1 - torch.eye(n_genes))
        self.encoder = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.mu, self.logvar = nn.Linear(hidden, 1), nn.Linear(hidden, 1)
        self.prior_mu = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, n_genes))
        self.prior_logvar = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, n_genes))
        self.decoder = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                     nn.Linear(hidden, 1))  # fmt: skip
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight, generator=generator)
                nn.init.zeros_(module.bias)

    def grn(self) -> torch.Tensor:
        """W = I - (A with zero diagonal)^T, DeepSEM's GRN layer."""
        return torch.eye(len(self.adj), device=self.adj.device) - (self.adj * self.off_diagonal).T

    def loss(
        self, x: torch.Tensor, keep: torch.Tensor, alpha: float, beta: float, noise: torch.Generator
    ) -> torch.Tensor:
        """DeepSEM's training loss of a batch of cells ``x`` (non-zero mask ``keep``)."""
        grn = self.grn()
        y = torch.ones(x.shape[0], 1, device=x.device)
        hidden = self.encoder(torch.stack([x, y.expand_as(x)], dim=-1))
        mu = self.mu(hidden).squeeze(-1) @ grn
        var = torch.exp(self.logvar(hidden).squeeze(-1) @ grn)
        z = mu + torch.randn(mu.shape, generator=noise, device=x.device) * torch.sqrt(var + 1e-10)
        reconstruction = self.decoder((z @ torch.linalg.inv(grn)).unsqueeze(-1)).squeeze(-1)
        prior_mu = self.prior_mu(y) @ grn
        prior_var = torch.exp(self.prior_logvar(y) @ grn)
        mse = torch.sum((x - reconstruction) ** 2 * keep) / torch.sum(keep)
        kl = (_log_normal(z, mu, var) - _log_normal(z, prior_mu, prior_var)).mean()
        return mse + beta * kl + alpha * torch.mean(torch.abs(self.adj))


def train(expression: np.ndarray, init: np.ndarray, settings: DeepSEMSettings, seed: int, device: str) -> np.ndarray:
    """Train DeepSEM on cells x genes ``expression`` from initial ``A`` (``A[target, regulator]``);
    returns the trained A (float32 numpy, diagonal 0)."""
    values, mask = standardize(expression)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed)
    model = DeepSEM(init, settings.hidden, generator).to(device)
    x, keep = torch.from_numpy(values).to(device), torch.from_numpy(mask).to(device)
    networks = [parameter for name, parameter in model.named_parameters() if name != "adj"]
    optimize_networks = torch.optim.RMSprop(networks, lr=settings.lr)
    optimize_grn = torch.optim.RMSprop([model.adj], lr=settings.lr_grn)
    cycle = settings.network_epochs + settings.grn_epochs
    for epoch in range(settings.epochs + 1):
        grn_phase = epoch % cycle >= settings.network_epochs
        optimizer = optimize_grn if grn_phase else optimize_networks
        optimize_networks.param_groups[0]["lr"] = network_lr(settings, epoch)
        model.adj.requires_grad_(grn_phase)
        for parameter in networks:
            parameter.requires_grad_(not grn_phase)
        total = 0.0
        for batch in torch.randperm(len(values), generator=generator).split(settings.batch_size):
            loss = model.loss(x[batch.to(device)], keep[batch.to(device)], settings.alpha, settings.beta, noise)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        log.debug("DeepSEM epoch %d (%s): loss %.5f", epoch, "A" if grn_phase else "networks", total / len(values))
    return model.adj.detach().cpu().numpy().copy()


def network_lr(settings: DeepSEMSettings, epoch: int) -> float:
    """The networks' learning rate in ``epoch``: torch 1.2's ``StepLR``, ``lr * lr_decay ** (epoch // lr_step)``."""
    return settings.lr * settings.lr_decay ** (epoch // settings.lr_step)


def _log_normal(x: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """DeepSEM's ``log_normal``: the Gaussian log-density averaged over genes (variance + 1e-8)."""
    var = var + 1e-8
    return -0.5 * torch.mean(math.log(2 * math.pi) + torch.log(var) + (x - mu) ** 2 / var, dim=-1)
