"""The pretraining loop: masked-value reconstruction with accumulation, clipping, validation, checkpoints.

Loss normalisation: every micro-batch back-propagates its *sum* of squared errors; once the global batch
of an optimizer step is through, the gradients are scaled by ``world_size / N`` where ``N`` is the number
of loss positions in the whole global batch (summed over accumulation steps and processes). The update
is therefore that of the mean over all chosen positions of the global batch, independent of how the
batch is split across processes and micro-batches. The normalised gradients are then clipped to a total
norm of ``clip_norm``, unless it is ``None`` (no clipping).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from sclong.errors import ConfigError
from sclong.io.shards import ShardedCSR
from sclong.progress import Progress
from sclong.train import checkpoint, distributed
from sclong.train.data import MicroBatch, TrainPlan, column_sums, eval_batches, loader
from sclong.train.masking import choose_masks, row_uniforms, squared_error_sum
from sclong.train.metrics import MetricsLog
from sclong.train.runtime import EXIT_DONE, EXIT_INTERRUPTED, StopFlag, autocast_dtype
from sclong.train.schedule import WarmRestartCosine
from sclong.train.settings import TrainConfig

log = logging.getLogger(__name__)


def new_window() -> dict[str, float]:
    """Sums over the optimizer steps since the last metrics row (kept in checkpoints, so a resumed run
    logs the same rows)."""
    return {"sse": 0.0, "count": 0.0, "cells": 0.0, "time": 0.0}


class Trainer:
    """One pretraining run of ``model`` on ``corpus``; :meth:`run` returns an exit code.

    Only rank 0 writes (metrics, checkpoints); every rank resumes from the same checkpoint. ``progress``
    shows a progress bar (rank 0), ``tensorboard`` also writes TensorBoard scalars when it is installed.
    """

    def __init__(
        self,
        config: TrainConfig,
        ctx: distributed.Context,
        corpus: ShardedCSR,
        train_cells: np.ndarray,
        val_cells: np.ndarray,
        model: nn.Module,
        out_dir: str | Path,
        stop: StopFlag,
        *,
        progress: bool,
        tensorboard: bool,
    ) -> None:
        self.config, self.ctx, self.corpus, self.stop = config, ctx, corpus, stop
        self.progress, self.tensorboard = progress, tensorboard
        self.out_dir = Path(out_dir)
        self.module = model.to(ctx.device)
        self.model: nn.Module = (
            DistributedDataParallel(model, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None)
            if ctx.distributed
            else model
        )
        self.plan = TrainPlan.from_config(train_cells, config, ctx.world_size, ctx.rank)
        if ctx.is_main:
            log.info(
                "global batch: %d cells per optimizer step (micro_batch_size %d x grad_accum %d x %d process(es)), "
                "%d steps per epoch",
                self.plan.global_batch, config.micro_batch_size, config.grad_accum, ctx.world_size,
                self.plan.steps_per_epoch,
            )  # fmt: skip
        if config.val_cells and config.val_cells < len(val_cells):  # a fixed random subset, in corpus order
            pick = np.random.default_rng([config.seed, 1]).choice(
                len(val_cells), config.val_cells, replace=False
            )
            val_cells = val_cells[np.sort(pick)]
        self.val_cells = val_cells
        self.dtype = autocast_dtype(config.precision, ctx.device)
        self.optimizer = torch.optim.Adam(
            model.parameters(), lr=config.max_lr, betas=config.betas, eps=config.eps, weight_decay=0.0
        )
        self.scheduler = WarmRestartCosine(
            self.optimizer,
            max_lr=config.max_lr,
            min_lr=config.min_lr,
            first_cycle=config.first_cycle,
            cycle_mult=config.cycle_mult,
            warmup=config.warmup,
            gamma=config.gamma,
        )
        self.total_steps = config.max_steps or config.epochs * self.plan.steps_per_epoch
        self.epoch = self.step_in_epoch = self.step = 0
        self.elapsed = 0.0
        self.rows: list[dict[str, Any]] = []
        self.gene_means: torch.Tensor | None = None
        self.last_val: tuple[float, float] | None = None
        self.lr = config.min_lr
        self.window = new_window()

    # -- state -------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything besides the weights that a resumed run needs."""
        return {
            "config": self.config.trajectory(self.plan.global_batch),
            "position": {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "step": self.step},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": checkpoint.rng_state(),
            "metrics": self.rows,
            "gene_means": self.gene_means,
            "elapsed_s": self.elapsed,
            "last_val": list(self.last_val) if self.last_val else None,
            "window": self.window,
        }

    def resume(self) -> bool:
        """Load the latest checkpoint of the output directory, if any."""
        path = checkpoint.latest(self.out_dir)
        if path is None:
            return False
        state = checkpoint.load(path, self.module, self.ctx.device)
        trajectory = self.config.trajectory(self.plan.global_batch)
        if state["config"] != trajectory:
            changed = sorted(k for k, v in trajectory.items() if state["config"].get(k) != v)
            raise ConfigError(
                f"pretrain.{changed[0]}" if changed else "pretrain",
                f"differs from the checkpoint in {path}; use the original values or a new output directory",
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        checkpoint.set_rng_state(state["rng"])
        position = state["position"]
        self.epoch, self.step_in_epoch, self.step = (
            position["epoch"],
            position["step_in_epoch"],
            position["step"],
        )
        self.rows, self.gene_means, self.elapsed = state["metrics"], state["gene_means"], state["elapsed_s"]
        self.last_val = tuple(state["last_val"]) if state["last_val"] else None
        self.window = state["window"]
        log.info("resumed from %s (epoch %d, step %d)", path, self.epoch, self.step)
        return True

    def save_checkpoint(self) -> None:
        """Rank 0 writes a checkpoint of the current step; all ranks wait for it."""
        if self.ctx.is_main:
            path = checkpoint.save(self.out_dir, self.step, self.module, self.state())
            log.info("checkpoint %s", path)
        distributed.barrier(self.ctx)

    # -- pieces --------------------------------------------------------------------------------------
    def compute_gene_means(self) -> torch.Tensor:
        """Per-gene mean over the training split (each rank streams its share; summed across ranks)."""
        share = np.array_split(self.plan.cells, self.ctx.world_size)[self.ctx.rank]
        sums = torch.from_numpy(column_sums(self.corpus, share))
        if self.ctx.distributed:
            sums = distributed.all_reduce_sum(sums.to(self.ctx.device), self.ctx).cpu()
        return (sums / len(self.plan.cells)).float()

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when configured, else nothing."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.ctx.device.type, dtype=self.dtype)

    @torch.no_grad()
    def validate(self) -> tuple[float, float]:
        """``(masked MSE, gene-mean baseline MSE)`` on the held-out cells, on the same positions."""
        self.module.eval()
        batches = eval_batches(
            self.val_cells, self.config.eval_batch_size, self.ctx.world_size, self.ctx.rank
        )
        totals = torch.zeros(3, dtype=torch.float64)
        means = self.gene_means.to(self.ctx.device)
        for batch, values in zip(batches, self._loader(batches), strict=True):
            values = values.to(self.ctx.device, non_blocking=True)
            masking = self._masking(batch, values)
            with self.autocast():
                out = self.module(values, masking.mask)
            sse, count = squared_error_sum(out.reconstruction, values, masking.chosen, out.predicted)
            base, _ = squared_error_sum(means.expand_as(values), values, masking.chosen, out.predicted)
            totals += torch.stack([sse.double().cpu(), base.double().cpu(), count.double().cpu()])
        totals = distributed.all_reduce_sum(totals.to(self.ctx.device), self.ctx).cpu()
        self.module.train()
        count = max(totals[2].item(), 1.0)
        return totals[0].item() / count, totals[1].item() / count

    def _masking(self, batch: MicroBatch, values: torch.Tensor) -> Any:
        return choose_masks(
            values,
            row_uniforms(self.config.seed, batch.mask_keys, values.shape[1]),
            self.config.mask_prob,
            self.config.mask_token_prob,
        )

    def _loader(self, batches: Sequence[MicroBatch]) -> torch.utils.data.DataLoader:
        return loader(self.corpus, batches, num_workers=self.config.num_workers, device=self.ctx.device)

    def _micro_step(self, batch: MicroBatch, values: torch.Tensor, last: bool) -> torch.Tensor:
        """Forward and backward of one micro-batch; returns ``[sse, count]`` (detached, float64)."""
        masking = self._masking(batch, values)
        sync = contextlib.nullcontext() if last or not self.ctx.distributed else self.model.no_sync()
        with sync:
            with self.autocast():
                out = self.model(values, masking.mask)
            sse, count = squared_error_sum(out.reconstruction, values, masking.chosen, out.predicted)
            sse.backward()
        return torch.stack([sse.detach().double(), count.double()])

    def _optimizer_step(self, totals: torch.Tensor) -> tuple[float, float]:
        """Normalise the accumulated gradients by the global count, clip, step; returns ``(sse, count)``.

        A global batch without loss positions (possible for ``wo_leg`` on tiny batches) skips the
        parameter update; the schedule still advances.
        """
        totals = distributed.all_reduce_sum(totals, self.ctx)
        sse, count = totals[0].item(), totals[1].item()
        self.lr = self.optimizer.param_groups[0]["lr"]
        if count:
            for param in self.module.parameters():
                if param.grad is not None:
                    param.grad.mul_(self.ctx.world_size / count)
            if self.config.clip_norm is not None:
                nn.utils.clip_grad_norm_(self.module.parameters(), self.config.clip_norm)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.config.schedule_unit == "steps":
            self.scheduler.step()
        return sse, count

    # -- the loop -----------------------------------------------------------------------------------
    def run(self) -> int:
        """Train until ``total_steps`` (resuming if a checkpoint exists); ``EXIT_DONE`` or ``EXIT_INTERRUPTED``."""
        self.resume()
        if self.gene_means is None:
            self.gene_means = self.compute_gene_means()
        metrics = None
        if self.ctx.is_main:
            metrics = MetricsLog(self.out_dir / "metrics.csv", self.rows, self.tensorboard)
            self.rows = metrics.rows
        try:
            return self._train(metrics)
        finally:
            if metrics is not None:
                metrics.close()

    def _train(self, metrics: MetricsLog | None) -> int:
        config = self.config
        bar = Progress(self.total_steps, "pretrain", "step", initial=self.step,
                       enabled=self.progress and self.ctx.is_main)  # fmt: skip
        self.module.train()
        while self.step < self.total_steps:
            batches = self.plan.micro_batches(self.epoch, self.step_in_epoch)
            totals = torch.zeros(2, dtype=torch.float64, device=self.ctx.device)
            started = time.perf_counter()
            for batch, values in zip(batches, self._loader(batches), strict=True):
                last = batch.step[2] == config.grad_accum - 1
                values = values.to(self.ctx.device, non_blocking=True)
                totals += self._micro_step(batch, values, last)
                if not last:
                    continue
                sse, count = self._optimizer_step(totals)
                totals = torch.zeros(2, dtype=torch.float64, device=self.ctx.device)
                self._advance()
                now = time.perf_counter()
                self.elapsed += now - started
                for key, value in zip(
                    ("sse", "count", "cells", "time"),
                    (sse, count, self.plan.global_batch, now - started),
                    strict=True,
                ):
                    self.window[key] += value
                bar.update(1)
                finished = self.step >= self.total_steps
                validate = finished or self.step % config.val_every == 0
                if validate or self.step % config.log_every == 0:
                    window = self.window
                    row = {
                        "train_loss": window["sse"] / window["count"] if window["count"] else math.nan,
                        "cells_per_s": window["cells"] / window["time"],
                    }
                    self.window = new_window()
                    if validate:
                        val_started = time.perf_counter()
                        self.last_val = self.validate()
                        self.elapsed += time.perf_counter() - val_started
                        row.update(val_loss=self.last_val[0], baseline_val_mse=self.last_val[1])
                    self._log(metrics, row)
                interrupted = distributed.any_process(self.stop.raised, self.ctx)
                if finished or interrupted or self.step % config.checkpoint_every == 0:
                    self.save_checkpoint()
                if interrupted:
                    bar.close()
                    log.warning(
                        "interrupted at step %d; checkpoint written, exiting %d", self.step, EXIT_INTERRUPTED
                    )
                    return EXIT_INTERRUPTED
                if finished:
                    break
                started = time.perf_counter()
        bar.close()
        return EXIT_DONE

    def _advance(self) -> None:
        self.step += 1
        self.step_in_epoch += 1
        if self.step_in_epoch == self.plan.steps_per_epoch:
            self.epoch += 1
            self.step_in_epoch = 0
            if self.config.schedule_unit == "epochs":
                self.scheduler.step()

    def _log(self, metrics: MetricsLog | None, row: dict[str, Any]) -> None:
        row = {
            "step": self.step,
            "epoch": self.epoch,
            "lr": self.lr,
            "elapsed_s": round(self.elapsed, 3),
            **row,
        }
        if metrics is not None:
            metrics.append(**row)
        else:
            self.rows.append(row)
        log.info("step %d: %s", self.step, ", ".join(f"{k}={v:.6g}" for k, v in row.items() if k != "step"))
