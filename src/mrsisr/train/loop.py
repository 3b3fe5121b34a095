"""The epoch loop of a run: train, validate, keep the best model, checkpoint, report.

Reproducibility: before each epoch the global generators are seeded from
``(seed, epoch, rank)``, the data draws come from ``(seed, epoch, index)`` and each step's
gradient-penalty draws from ``(seed, rank, step)``; checkpoints are written at the end of an
epoch. So a run resumed after an interruption gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import warnings
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from mrsisr.errors import UserError
from mrsisr.train import builders, reporting
from mrsisr.train import distributed as dist_utils
from mrsisr.train.config_io import config_hash
from mrsisr.train.distributed import DistInfo
from mrsisr.train.engine import GanTrainer, batch_to, present, unwrap
from mrsisr.train.plan import RunPlan, checkpoint_matches, save_generator
from mrsisr.train.state import (
    capture_rng,
    check_resume_metadata,
    load_state,
    restore_rng,
    save_state,
)

__all__ = ["TrainingLoop", "weights_digest"]

log = logging.getLogger(__name__)


def _metric_functions(config: Any) -> dict[str, Any]:
    from mrsisr.metrics import psnr, ssim

    def ssim_fn(
        pred: torch.Tensor,
        target: torch.Tensor,
        data_range: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return ssim(pred, target, data_range, mask=mask, win_size=config.loss.ms_ssim_window)

    return {"psnr": psnr, "ssim": ssim_fn}


def _find_unused(model: nn.Module, batch: Any) -> bool:
    """Whether one forward/backward leaves parameters without a gradient (DDP must know)."""
    out = model(
        batch.lr, batch.t1, batch.flair, batch.mask, batch.n, batch.met, batch.lam, present(batch)
    )
    out.sum().backward()
    unused = any(p.requires_grad and p.grad is None for p in model.parameters())
    model.zero_grad(set_to_none=True)
    return unused


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of a module's state (names and bytes): equal digests mean identical weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class TrainingLoop:
    """Builds the parts of a planned run on this process and runs its epochs.

    Args:
        plan: the checked run (:func:`mrsisr.train.plan.plan_run`).
        dist: this process's place in the job.
    """

    def __init__(self, plan: RunPlan, dist: DistInfo) -> None:
        from mrsisr.data.cohort import Cohort
        from mrsisr.data.sampler import GroupedBatchSampler, make_loader

        self.plan, self.dist = plan, dist
        config = plan.config
        device = dist.device
        cohort = Cohort.open(plan.data)
        train_set, val_set = builders.build_datasets(config, cohort, plan.split)
        self.native_grids = train_set.native_grids
        """The training patients' in-plane grids (several for a merged cohort)."""
        grouped = (
            GroupedBatchSampler(train_set, config.batch_size, seed=config.seed)
            if config.data.grouped_batches
            else None
        )
        self.train_loader = make_loader(
            train_set,
            config.batch_size,
            shuffle=True,
            num_workers=config.data.num_workers,
            sampler=grouped,
            distributed=dist.distributed,
            seed=config.seed,
        )
        self.val_loader = builders.validation_loader(
            val_set, config.val_batch_size, dist.rank, dist.world_size
        )
        builders.seed_globals(builders.derive_seed(config.seed, "init"))
        generator = builders.initial_generator(config).to(device)
        critic = builders.build_critic_for(config)
        critic = critic.to(device) if critic is not None else None
        self.g_opt = builders.build_optimizer(generator.parameters(), config.optim.lr, config)
        self.d_opt = (
            builders.build_optimizer(critic.parameters(), config.optim.critic_lr, config)
            if critic is not None
            else None
        )
        self.schedulers = [builders.build_scheduler(self.g_opt, config)]
        if self.d_opt is not None:
            self.schedulers.append(builders.build_scheduler(self.d_opt, config))
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": None, "val_loss": math.inf}
        self.start_epoch, self.step = 0, 0
        meta = checkpoint_matches(plan)
        if meta is not None:
            self._restore(generator, critic)
        if dist.distributed:
            generator, critic = self._wrap(generator, critic)
        self.trainer = GanTrainer(
            generator,
            self.g_opt,
            builders.build_loss(config).to(device),
            critic,
            self.d_opt,
            n_critic=config.adversarial.n_critic,
            gp_weight=config.adversarial.gp_weight,
        )
        self.metrics = _metric_functions(config)
        self.board = reporting.TensorBoard(
            plan.files.tensorboard, enabled=dist.is_main and config.tensorboard
        )

    def _wrap(self, generator: nn.Module, critic: nn.Module | None) -> tuple[nn.Module, Any]:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
        # The gradient penalty's double backward gives some critic gradients a transposed
        # layout; DDP copies them into its buckets correctly and warns about speed only.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
        first = batch_to(next(iter(self.train_loader)), self.dist.device)
        unused = _find_unused(generator, first)
        generator = DDP(generator, device_ids=ids, find_unused_parameters=unused)
        if critic is not None:
            critic = DDP(critic, device_ids=ids)
        return generator, critic

    def _state(self) -> dict[str, Any]:
        trainer = self.trainer
        state: dict[str, Any] = {
            "generator": unwrap(trainer.generator).state_dict(),
            "g_optimizer": self.g_opt.state_dict(),
            "schedulers": [s.state_dict() for s in self.schedulers],
            "rng": capture_rng(),
        }
        if trainer.critic is not None and self.d_opt is not None:
            state["critic"] = unwrap(trainer.critic).state_dict()
            state["d_optimizer"] = self.d_opt.state_dict()
        return state

    def _restore(self, generator: nn.Module, critic: nn.Module | None) -> None:
        path = self.plan.files.checkpoint
        expect = {"generator": generator, "critic": critic}
        state, meta = load_state(path, expect=expect)
        check_resume_metadata(path, meta)
        try:
            generator.load_state_dict(state["generator"])
            self.g_opt.load_state_dict(state["g_optimizer"])
            if critic is not None and self.d_opt is not None:
                critic.load_state_dict(state["critic"])
                self.d_opt.load_state_dict(state["d_optimizer"])
            for scheduler, saved in zip(self.schedulers, state["schedulers"]):
                scheduler.load_state_dict(saved)
            restore_rng(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
            raise UserError(
                f"{path}: corrupted training checkpoint ({type(err).__name__}: {first})"
            ) from None
        self.start_epoch, self.step = int(meta["epoch"]), int(meta["step"])
        self.history = list(meta["history"])
        self.best = dict(meta["best"])
        log.info("resuming after epoch %d (step %d)", self.start_epoch, self.step)

    def run(self) -> dict[str, Any]:
        """Train the remaining epochs; returns a summary of the run."""
        config = self.plan.config
        for epoch in range(self.start_epoch, config.epochs):
            row = self._epoch(epoch)
            self.history.append(row)
            improved = row["val_loss"] < self.best["val_loss"]
            if improved:
                self.best = {"epoch": epoch + 1, "val_loss": row["val_loss"]}
            if self.dist.is_main:
                self._save(row, improved)
            dist_utils.barrier()
            log.info(
                "epoch %d/%d  train %.4f  val %.4f  PSNR %.2f  %.0f samples/s%s",
                epoch + 1,
                config.epochs,
                row["train_loss"],
                row["val_loss"],
                row["val_psnr"],
                row["samples_per_s"],
                "  (best)" if improved else "",
            )
        if self.dist.is_main and self.history:
            reporting.plot_history(self.plan.files.curves, self.history)
        self.board.close()
        return {
            "epochs": len(self.history),
            "steps": self.step,
            "best_epoch": self.best["epoch"],
            "best_val_loss": self.best["val_loss"],
            "weights_sha256": weights_digest(unwrap(self.trainer.generator)),
        }

    def _epoch(self, epoch: int) -> dict[str, Any]:
        from mrsisr.data.sampler import set_loader_epoch

        config, dist = self.plan.config, self.dist
        builders.seed_globals(builders.derive_seed(config.seed, "epoch", epoch, dist.rank))
        set_loader_epoch(self.train_loader, epoch)
        total = len(self.train_loader)
        if config.steps_per_epoch > 0:
            total = min(total, config.steps_per_epoch)
        sums: dict[str, float] = {}
        samples = 0
        start = time.perf_counter()
        bar = self._progress(total, epoch)
        for index, batch in enumerate(self.train_loader):
            if index >= total:
                break
            batch = batch_to(batch, dist.device)
            rng = builders.step_generator(config.seed, dist.rank, self.step)
            logs = self.trainer.train_step(batch, rng)
            self.step += 1
            samples += batch.hr.shape[0] * dist.world_size
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + value
            if bar is not None:
                rate = samples / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss=f"{logs['loss']:.4f}", rate=f"{rate:.0f}/s", refresh=False)
                bar.update(1)
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - start
        lr = self.g_opt.param_groups[0]["lr"]
        for scheduler in self.schedulers:
            scheduler.step()
        train = dist_utils.all_reduce_sums(sums, dist.device)
        steps = max(total, 1) * dist.world_size
        row: dict[str, Any] = {"epoch": epoch + 1, "step": self.step, "lr": lr}
        row.update({f"train_{k}": v / steps for k, v in sorted(train.items())})
        row.update(self._validate())
        row.update(epoch_s=seconds, samples_per_s=samples / max(seconds, 1e-9))
        return row

    def _progress(self, total: int, epoch: int) -> Any:
        if not (self.dist.is_main and self.plan.config.progress):
            return None
        desc = f"epoch {epoch + 1}/{self.plan.config.epochs}"
        return tqdm(total=total, desc=desc, unit="step", leave=False, disable=None)

    def _validate(self) -> dict[str, float]:
        device = self.dist.device
        batches = (batch_to(b, device) for b in self.val_loader)
        sums = self.trainer.evaluate(batches, self.metrics)
        sums = dist_utils.all_reduce_sums(sums, device)
        count = max(sums.pop("count"), 1.0)
        return {f"val_{k}": v / count for k, v in sums.items()}

    def _save(self, row: dict[str, Any], improved: bool) -> None:
        files, generator = self.plan.files, self.trainer.generator
        facts = {"epoch": row["epoch"], "val_loss": row["val_loss"], "val_psnr": row["val_psnr"]}
        save_generator(files.last, generator, self.plan, facts, self.native_grids)
        if improved:
            save_generator(files.best, generator, self.plan, facts, self.native_grids)
        meta = {
            "epoch": row["epoch"],
            "step": self.step,
            "config_hash": config_hash(self.plan.config),
            "world_size": self.dist.world_size,
            "history": self.history,
            "best": self.best,
        }
        save_state(files.checkpoint, self._state(), meta)
        reporting.write_csv(files.metrics, self.history)
        self.board.log(row, self.step)
