"""Training loop: plain fine-tuning, the interpolated objective or FROSTER's distillation, SWA, a checkpoint per
epoch, exact resume.

The vision tower trains; the text classifier is computed once from the frozen text encoder, unless
``train.train_text`` (FROSTER) trains the text tower too, re-embedding the classes' prompts every step. Each epoch
ends with a checkpoint (``checkpoint.py``), written under a temporary name and renamed when complete, so a crash
never leaves a half-written checkpoint. Resuming restarts at the epoch after the last complete checkpoint and
gives the same weights as an uninterrupted run: the data order of each epoch is seeded from (seed, epoch), each
sample's augmentation from (seed, epoch, sample), and every RNG state is restored.

Under ``torchrun`` the processes split each global batch (``train.batch_size``) and sum their gradients
(``distributed.py``); only the main process writes, and a checkpoint resumes with any number of processes.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import shutil
import time
from pathlib import Path
from typing import Callable, ContextManager, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..data.clips import EpochBatches
from ..devices import current
from ..errors import UserError
from ..io import write_json
from ..models import (
    clone_parameters,
    encode_video,
    freeze_text_tower,
    trained_parameters,
    video_logits,
)
from ..weights import save_weights, write_no_swa
from .amp import amp_mode, autocast_and_scaler
from .checkpoint import (
    fingerprint_differences,
    latest_checkpoint,
    read_state,
    restore_checkpoint,
    save_checkpoint,
    training_fingerprint,
)
from .config import TrainConfig
from .distill import DistillHeads, StepText, froster_batch_loss
from .distributed import GlobalBatches, barrier, sum_gradients, sum_values
from .log import CsvLog
from .objective import BatchLoss, interpolated_backward
from .rng import seed_everything
from .schedule import warmup_cosine_scheduler
from .swa import WeightAverage

log = logging.getLogger(__name__)


def weight_decay_split(params: Mapping[str, torch.Tensor]) -> Tuple[List[str], List[str]]:
    """(names that decay, names that do not), as the released code groups them (its ZERO_WD_1D_PARAM): no weight
    decay on 1-D tensors (gains, the class embedding) and biases; matrices, the positional embedding and the
    0-D logit scale decay."""
    no_decay = [k for k, p in params.items() if p.ndim == 1 or k.endswith(".bias")]
    return [k for k in params if k not in no_decay], no_decay


@dataclasses.dataclass
class _Training:
    """What the training steps use and update; a checkpoint saves all of it but ``theta0`` and ``autocast``."""

    params: Dict[str, torch.Tensor]
    theta0: Mapping[str, torch.Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    swa: Optional[WeightAverage]
    scaler: Optional[torch.amp.GradScaler]
    autocast: Callable[[], ContextManager]
    alpha_rng: torch.Generator
    heads: Optional[DistillHeads] = None  # FROSTER's residual heads; their weights are in params as distill.*
    step: int = 0


HEADS_PREFIX = "distill."  # the heads' names among the trained weights: checkpointed, never in a weights file


def clip_weights(weights: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The CLIP state-dict part of the trained weights (without the distillation heads)."""
    return {k: v for k, v in weights.items() if not k.startswith(HEADS_PREFIX)}


def fit(
    model: nn.Module,
    dataset: Dataset,
    classifier: torch.Tensor,
    cfg: TrainConfig,
    out_dir: Path,
    device: str | torch.device = "cpu",
    theta0: Optional[Mapping[str, torch.Tensor]] = None,
    progress: bool = True,
    collate_fn: Optional[Callable] = None,
    metadata: Optional[dict] = None,
    teacher: Optional[nn.Module] = None,
    step_text: Optional[StepText] = None,
) -> dict:
    """Train ``model``'s vision tower (and text tower: FROSTER's ``train_text``) on ``dataset`` (items
    ``(video (T,3,H,W) float, label int)``).

    ``theta0`` defaults to the model's weights on entry. Writes into ``out_dir``: ``checkpoints/epoch-NNNN/``,
    ``train_log.csv``, ``model.safetensors`` (last weights), ``swa.safetensors`` (the SWA average; with SWA off, a file
    saying so), ``train_info.json``. Returns the paths and the final step. Resumes from the last checkpoint found
    there; a run that starts over first removes the weights files of an earlier one.
    FROSTER (``objective: froster``) needs ``teacher``, the frozen image CLIP (theta0, no temporal attention), and,
    with ``train_text``, ``step_text``: the training classes' prompts to re-embed every step.
    In a process group (torchrun) every process calls it; each scores its share of every global batch.
    """
    procs = current()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    params, theta0 = _trained_weights(model, cfg, device, theta0)
    classifier = classifier.to(device)
    info = {
        "objective": cfg.objective,
        "config": dataclasses.asdict(cfg),
        "metadata": metadata or {},
        "torch": torch.__version__,
        "processes": procs.world,
        "device": str(device),
        "amp": amp_mode(cfg, device),
    }
    if procs.main and latest_checkpoint(out_dir) is None:
        # A run that starts over leaves nothing of an earlier one that could be read as its result.
        _remove(out_dir, "model.safetensors", "swa.safetensors")
    if cfg.objective == "frozen":
        return _write_frozen(out_dir, theta0, info, procs)

    seed_everything(cfg.seed)
    heads = _distillation_heads(cfg, params, classifier.shape[0], device, teacher, step_text)
    if cfg.grad_checkpointing:
        model.visual.set_grad_checkpointing(True)
    if len(dataset) == 0:
        raise UserError("the training set is empty")
    steps_per_epoch = len(GlobalBatches(len(dataset), cfg.batch_size, cfg.seed, 1, procs, cfg.max_steps_per_epoch))
    training = _start_training(params, theta0, cfg, device, steps_per_epoch)
    training.heads = heads
    fingerprint = training_fingerprint(cfg, metadata, len(dataset))
    epochs_done = _resume(out_dir, fingerprint, training, procs)
    train_log = CsvLog(out_dir / "train_log.csv", training.step if epochs_done else None) if procs.main else None
    if cfg.distilled:
        froster = functools.partial(
            froster_batch_loss, model, teacher, heads, classifier, step_text, cfg, training.autocast
        )

        def loss_on(*batch):  # the step read at each batch: it draws the batch's template
            return froster(training.step, *batch)

    else:
        loss_on = functools.partial(_batch_loss, model, classifier, model.logit_scale.detach(), cfg, training.autocast)

    model.train()
    sampler, loader = training_loader(dataset, cfg, procs, device, collate_fn)
    for epoch in range(epochs_done + 1, cfg.epochs + 1):
        sampler.set_epoch(epoch)
        batches = sampler.batches
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"{cfg.objective} epoch {epoch}/{cfg.epochs}",
            disable=not (progress and procs.main),
            leave=False,
        )
        for batch_index, (video, labels) in enumerate(loader):
            scored, batch_total = batches.counts(batch_index)
            began = time.perf_counter()
            video, labels = video.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            stats = _train_step(training, loss_on(video, labels, scored, batch_total), cfg, procs)
            if train_log is not None:
                train_log.write(_log_row(epoch, training.step, stats, began))
                bar.set_postfix(loss=f"{stats['loss'].item():.3f}")
                bar.update()
        bar.close()
        _end_epoch(out_dir, epoch, training, cfg, fingerprint, procs)
    result = _write_results(out_dir, training, cfg, info, procs)
    model.eval()
    return result


def _trained_weights(
    model: nn.Module, cfg: TrainConfig, device: torch.device, theta0: Optional[Mapping[str, torch.Tensor]]
) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """Moves the model to ``device`` and freezes all but what trains; returns (trained weights, theta0 on device)."""
    model.to(device)
    freeze_text_tower(model, cfg.trains_text)
    if cfg.train_logit_scale:
        model.logit_scale.requires_grad_(True)
    params = trained_parameters(model, cfg.train_logit_scale, cfg.trains_text)
    theta0 = clone_parameters(params) if theta0 is None else {k: v.to(device) for k, v in theta0.items()}
    if set(theta0) != set(params):
        raise UserError(
            f"theta0 and the trained weights differ in {sorted(set(theta0) ^ set(params))[:5]}: theta0 must hold "
            "exactly the weights that train (those of the same architecture; train.train_logit_scale and "
            "train.train_text add the logit scale and the text tower)"
        )
    return params, theta0


def _distillation_heads(
    cfg: TrainConfig,
    params: Dict[str, torch.Tensor],
    dim: int,
    device: torch.device,
    teacher: Optional[nn.Module],
    step_text: Optional[StepText],
) -> Optional[DistillHeads]:
    """FROSTER's residual heads, their weights added to ``params`` (seeded: built after ``seed_everything``);
    None for the other objectives. The teacher is frozen here, so no gradient ever reaches it."""
    if not cfg.distilled:
        return None
    if teacher is None:
        raise ValueError("objective froster needs the frozen teacher CLIP (fit's teacher=)")
    if cfg.trains_text and step_text is None:
        raise ValueError("train.train_text needs the training classes' prompts (fit's step_text=)")
    teacher.to(device).eval().requires_grad_(False)
    heads = DistillHeads(dim, cfg.distill_residual).to(device)
    params.update({HEADS_PREFIX + k: p for k, p in heads.named_parameters()})
    return heads


def _remove(out_dir: Path, *names: str) -> None:
    """Deletes these files of ``out_dir`` where they exist."""
    for name in names:
        (out_dir / name).unlink(missing_ok=True)


def _write_frozen(out_dir: Path, theta0: Mapping[str, torch.Tensor], info: dict, procs) -> dict:
    """The results of the frozen objective, which trains nothing: ``theta0`` and no SWA average."""
    if procs.main:
        write_no_swa(out_dir / "swa.safetensors", "frozen")
        save_weights(theta0, out_dir / "model.safetensors", {"objective": "frozen"})
        write_json(out_dir / "train_info.json", {**info, "steps": 0})
    barrier(procs)
    return {"model": out_dir / "model.safetensors", "swa": out_dir / "swa.safetensors", "steps": 0}


def _start_training(
    params: Dict[str, torch.Tensor],
    theta0: Mapping[str, torch.Tensor],
    cfg: TrainConfig,
    device: torch.device,
    steps_per_epoch: int,
) -> _Training:
    """The optimizer, learning-rate schedule, SWA average, mixed precision and alpha generator of a fresh run."""
    total_steps = steps_per_epoch * cfg.epochs
    warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)
    decay, no_decay = weight_decay_split(params)
    optimizer = torch.optim.AdamW(
        [
            {"params": [params[k] for k in decay], "weight_decay": cfg.weight_decay},
            {"params": [params[k] for k in no_decay], "weight_decay": 0.0},
        ],
        lr=cfg.lr,
    )
    scheduler = warmup_cosine_scheduler(optimizer, total_steps, warmup_steps, cfg.lr, cfg.warmup_start_lr, cfg.end_lr)
    swa = WeightAverage(cfg.swa_start_epoch, cfg.swa_every) if cfg.use_swa else None
    alpha_rng = torch.Generator().manual_seed(cfg.seed + 1)
    autocast, scaler = autocast_and_scaler(cfg, device)
    return _Training(params, theta0, optimizer, scheduler, swa, scaler, autocast, alpha_rng)


def _resume(out_dir: Path, fingerprint: dict, training: _Training, procs) -> int:
    """Restores ``training`` from the last checkpoint in ``out_dir`` of this same run; returns its epoch (0: none)."""
    resume = latest_checkpoint(out_dir)
    if resume is not None:
        state = read_state(resume)
        if state.get("fingerprint") != fingerprint:
            # Written by a run with another config or data: resuming would mix two trainings.
            differing = fingerprint_differences(fingerprint, state.get("fingerprint"))
            if procs.main:
                log.info(
                    "checkpoints in %s come from a run with other settings (%s); discarding them and starting afresh",
                    out_dir / "checkpoints",
                    ", ".join(differing) or "unknown",
                )
                shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
                _remove(out_dir, "train_log.csv", "model.safetensors", "swa.safetensors")
            resume = None
    barrier(procs)  # every process has read the checkpoint (or seen it discarded) before anyone writes
    if resume is None:
        return 0
    t = training
    restore_checkpoint(resume, state, t.params, t.optimizer, t.scheduler, t.swa, t.scaler, t.alpha_rng)
    training.step = state["step"]
    if procs.main:  # a rerun after a kill says where it picks up
        log.info("resuming from checkpoint %s (epoch %s, step %s)", resume, state["epoch"], training.step)
    return state["epoch"]


def _batch_loss(
    model: nn.Module,
    classifier: torch.Tensor,
    frozen_logit_scale: torch.Tensor,
    cfg: TrainConfig,
    autocast: Callable[[], ContextManager],
    video: torch.Tensor,
    labels: torch.Tensor,
    scored: int,
    batch_total: int,
) -> BatchLoss:
    """The loss of given weights on this batch."""

    def terms(weights: Mapping[str, torch.Tensor]):
        # This process's share of the global batch's mean loss: the sum over its samples / the global count
        # (its first ``scored`` samples; none when it only pads a short last batch).
        visual = {k: v for k, v in weights.items() if k != "logit_scale"}
        with autocast():
            logits = video_logits(
                encode_video(model, video, params=visual, expected_frames=cfg.num_frames),
                classifier,
                weights.get("logit_scale", frozen_logit_scale),
            )
        return F.cross_entropy(logits.float(), labels, reduction="none")[:scored].sum() / batch_total, {}

    return BatchLoss(terms)


def _train_step(training: _Training, loss_of: BatchLoss, cfg: TrainConfig, procs) -> dict:
    """One optimizer step on one global batch; returns its lr, alpha, losses and gradient norm."""
    params, optimizer, scaler = training.params, training.optimizer, training.scaler
    optimizer.zero_grad(set_to_none=True)
    scale = scaler.scale if scaler is not None else (lambda x: x)
    alpha = float("nan")
    if cfg.interpolated:
        alpha = float(torch.empty(()).uniform_(cfg.alpha_low, cfg.alpha_high, generator=training.alpha_rng))
        loss, loss_alpha = interpolated_backward(
            loss_of, params, training.theta0, alpha, cfg.lam, cfg.gradient, scale=scale
        )
    else:
        loss = loss_of(params)
        scale(loss).backward()
        loss, loss_alpha = loss.detach(), torch.tensor(float("nan"), device=loss.device)
    nan = torch.tensor(float("nan"), device=loss.device)
    loss, distill = loss_of.parts.get("loss", loss), loss_of.parts.get("loss_distill", nan)
    sum_gradients(params, procs)
    loss, loss_alpha, distill = sum_values(torch.stack([loss, loss_alpha, distill]), procs)
    if scaler is not None:
        scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(
        list(params.values()), cfg.clip_grad_norm if cfg.clip_grad_norm > 0 else float("inf")
    )
    lr = optimizer.param_groups[0]["lr"]
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    training.scheduler.step()
    training.step += 1
    return {
        "lr": lr,
        "alpha": alpha,
        "loss": loss,
        "loss_interpolated": loss_alpha,
        "loss_distill": distill,
        "grad_norm": grad_norm,
    }


def _log_row(epoch: int, step: int, stats: dict, began: float) -> dict:
    """The ``train_log.csv`` row of one step that began at ``began`` (``time.perf_counter``)."""
    return {
        "epoch": epoch,
        "step": step,
        "lr": f"{stats['lr']:.6g}",
        "alpha": f"{stats['alpha']:.6f}",
        "loss": f"{stats['loss'].item():.6f}",
        "loss_interpolated": f"{stats['loss_interpolated'].item():.6f}",
        "loss_distill": f"{stats['loss_distill'].item():.6f}",
        "grad_norm": f"{stats['grad_norm'].item():.4f}",
        # Timed last: the .item() calls above wait for the device to finish the step.
        "seconds": f"{time.perf_counter() - began:.4f}",
    }


def _end_epoch(out_dir: Path, epoch: int, training: _Training, cfg: TrainConfig, fingerprint: dict, procs) -> None:
    """Adds the weights to the SWA average when due and writes the epoch's checkpoint."""
    t = training
    if t.swa is not None and t.swa.due(epoch):
        t.swa.update(t.params, epoch)
    if procs.main:
        save_checkpoint(
            out_dir,
            epoch,
            t.step,
            t.params,
            t.optimizer,
            t.scheduler,
            t.swa,
            t.scaler,
            t.alpha_rng,
            cfg.keep_checkpoints,
            fingerprint,
        )
    barrier(procs)


def _write_results(out_dir: Path, training: _Training, cfg: TrainConfig, info: dict, procs) -> dict:
    """Writes ``swa.safetensors``, ``train_info.json`` and ``model.safetensors``; returns fit's result."""
    params, swa, step = training.params, training.swa, training.step
    swa_path = out_dir / "swa.safetensors"
    if procs.main:
        if swa is not None:
            averaged = clip_weights(swa.averaged(params))
            save_weights(averaged, swa_path, {"objective": cfg.objective, "swa_epochs": swa.epochs})
        else:
            write_no_swa(swa_path, cfg.objective)
        write_json(
            out_dir / "train_info.json", {**info, "steps": step, "swa_epochs": swa.epochs if swa is not None else None}
        )
        # Last: model.safetensors is what the workflow waits for, so it marks a finished run.
        save_weights(clip_weights(params), out_dir / "model.safetensors", {"objective": cfg.objective, "steps": step})
    barrier(procs)
    return {"model": out_dir / "model.safetensors", "swa": swa_path, "steps": step}


def training_loader(
    dataset: Dataset,
    cfg: TrainConfig,
    procs=None,
    device: str | torch.device = "cpu",
    collate_fn: Optional[Callable] = None,
) -> Tuple[EpochBatches, DataLoader]:
    """This process's loader over all epochs (call ``sampler.set_epoch(e)`` before iterating epoch ``e``).

    Its workers persist across epochs and decode ahead (``prefetch_factor`` batches each); the epoch reaches
    them inside every sample's key, so what a sample gets depends on (seed, epoch, sample) alone."""
    procs = procs or current()
    sampler = EpochBatches(
        lambda epoch: GlobalBatches(len(dataset), cfg.batch_size, cfg.seed, epoch, procs, cfg.max_steps_per_epoch),
        keyed=getattr(dataset, "takes_epoch", False),
    )
    workers = {"persistent_workers": True, "prefetch_factor": 4} if cfg.num_workers > 0 else {}
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=cfg.num_workers,
        collate_fn=collate_fn,
        pin_memory=torch.device(device).type == "cuda",
        **workers,
    )
    return sampler, loader
