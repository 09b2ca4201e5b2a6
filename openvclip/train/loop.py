"""Training loop: plain fine-tuning or the interpolated objective, SWA, a checkpoint per epoch, exact resume.

Only the vision tower trains; the text classifier is computed once from the frozen text encoder. Each epoch
ends with a checkpoint (``checkpoint.py``), written under a temporary name and renamed when complete, so a crash
never leaves a half-written checkpoint. Resuming restarts at the epoch after the last complete checkpoint and
gives the same weights as an uninterrupted run: the data order of each epoch is seeded from (seed, epoch), each
sample's augmentation from (seed, epoch, sample), and every RNG state is restored.

Under ``torchrun`` the processes split each global batch (``train.batch_size``) and sum their gradients
(``distributed.py``); only the main process writes, and a checkpoint resumes with any number of processes.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..data.clips import EpochBatches
from ..errors import UserError
from ..io import write_json
from ..models import clone_parameters, encode_video, freeze_text_tower, trained_parameters, video_logits
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
from .distributed import GlobalBatches, barrier, current, sum_gradients, sum_values
from .log import CsvLog
from .objective import interpolated_backward
from .rng import seed_everything
from .schedule import warmup_cosine_scheduler
from .swa import WeightAverage
from .weights import save_weights, write_no_swa

log = logging.getLogger(__name__)


def weight_decay_split(params: Mapping[str, torch.Tensor]) -> Tuple[List[str], List[str]]:
    """(names that decay, names that do not), as the released code groups them (its ZERO_WD_1D_PARAM): no weight
    decay on 1-D tensors (gains, the class embedding) and biases; matrices, the positional embedding and the
    0-D logit scale decay."""
    no_decay = [k for k, p in params.items() if p.ndim == 1 or k.endswith(".bias")]
    return [k for k in params if k not in no_decay], no_decay


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
) -> dict:
    """Train ``model``'s vision tower on ``dataset`` (items ``(video (T,3,H,W) float, label int)``).

    ``theta0`` defaults to the model's weights on entry. Writes into ``out_dir``: ``checkpoints/epoch-NNNN/``,
    ``train_log.csv``, ``model.safetensors`` (last weights), ``swa.safetensors`` (the SWA average; with SWA off, a file
    saying so), ``train_info.json``. Returns the paths and the final step. Resumes from the last checkpoint found
    there; a run that starts over first removes the weights files of an earlier one.
    In a process group (torchrun) every process calls it; each scores its share of every global batch.
    """
    procs = current()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    model.to(device)
    freeze_text_tower(model)
    if cfg.train_logit_scale:
        model.logit_scale.requires_grad_(True)
    params = trained_parameters(model, cfg.train_logit_scale)
    theta0 = clone_parameters(params) if theta0 is None else {k: v.to(device) for k, v in theta0.items()}
    if set(theta0) != set(params):
        raise UserError(f"theta0 holds {sorted(set(theta0) ^ set(params))[:5]} unlike the trained weights")
    classifier = classifier.to(device)
    frozen_logit_scale = model.logit_scale.detach()
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
        for name in ("model.safetensors", "swa.safetensors"):
            (out_dir / name).unlink(missing_ok=True)
    if cfg.objective == "frozen":
        if procs.main:
            write_no_swa(out_dir / "swa.safetensors", "frozen")
            save_weights(theta0, out_dir / "model.safetensors", {"objective": "frozen"})
            write_json(out_dir / "train_info.json", {**info, "steps": 0})
        barrier(procs)
        return {"model": out_dir / "model.safetensors", "swa": out_dir / "swa.safetensors", "steps": 0}

    seed_everything(cfg.seed)
    if cfg.grad_checkpointing:
        model.visual.set_grad_checkpointing(True)
    if len(dataset) == 0:
        raise UserError("the training set is empty")
    steps_per_epoch = len(GlobalBatches(len(dataset), cfg.batch_size, cfg.seed, 1, procs, cfg.max_steps_per_epoch))
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

    start_epoch, step = 1, 0
    fingerprint = training_fingerprint(cfg, metadata, len(dataset))
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
                for name in ("train_log.csv", "model.safetensors", "swa.safetensors"):
                    (out_dir / name).unlink(missing_ok=True)
            resume = None
    barrier(procs)  # every process has read the checkpoint (or seen it discarded) before anyone writes
    if resume is not None:
        restore_checkpoint(resume, state, params, optimizer, scheduler, swa, scaler, alpha_rng)
        start_epoch, step = state["epoch"] + 1, state["step"]
        if procs.main:  # a rerun after a kill says where it picks up
            log.info("resuming from checkpoint %s (epoch %s, step %s)", resume, state["epoch"], step)
    train_log = CsvLog(out_dir / "train_log.csv", step if resume is not None else None) if procs.main else None

    def loss_of(weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        # This process's share of the global batch's mean loss: the sum over its samples / the global count
        # (its first ``scored`` samples; none when it only pads a short last batch).
        visual = {k: v for k, v in weights.items() if k != "logit_scale"}
        with autocast():
            logits = video_logits(
                encode_video(model, video, params=visual, expected_frames=cfg.num_frames),
                classifier,
                weights.get("logit_scale", frozen_logit_scale),
            )
        return F.cross_entropy(logits.float(), labels, reduction="none")[:scored].sum() / batch_total

    model.train()
    sampler, loader = training_loader(dataset, cfg, procs, device, collate_fn)
    for epoch in range(start_epoch, cfg.epochs + 1):
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
            optimizer.zero_grad(set_to_none=True)
            scale = scaler.scale if scaler is not None else (lambda x: x)
            alpha = float("nan")
            if cfg.interpolated:
                alpha = float(torch.empty(()).uniform_(cfg.alpha_low, cfg.alpha_high, generator=alpha_rng))
                loss, loss_alpha = interpolated_backward(
                    loss_of, params, theta0, alpha, cfg.lam, cfg.gradient, scale=scale
                )
            else:
                loss = loss_of(params)
                scale(loss).backward()
                loss, loss_alpha = loss.detach(), torch.tensor(float("nan"), device=device)
            sum_gradients(params, procs)
            loss, loss_alpha = sum_values(torch.stack([loss, loss_alpha]), procs)
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
            scheduler.step()
            step += 1
            if train_log is None:
                continue
            train_log.write(
                {
                    "epoch": epoch,
                    "step": step,
                    "lr": f"{lr:.6g}",
                    "alpha": f"{alpha:.4f}",
                    "loss": f"{loss.item():.6f}",
                    "loss_interpolated": f"{loss_alpha.item():.6f}",
                    "grad_norm": f"{grad_norm.item():.4f}",
                    "seconds": f"{time.perf_counter() - began:.4f}",
                }
            )
            bar.set_postfix(loss=f"{loss.item():.3f}")
            bar.update()
        bar.close()
        if swa is not None and swa.due(epoch):
            swa.update(params, epoch)
        if procs.main:
            save_checkpoint(
                out_dir,
                epoch,
                step,
                params,
                optimizer,
                scheduler,
                swa,
                scaler,
                alpha_rng,
                cfg.keep_checkpoints,
                fingerprint,
            )
        barrier(procs)

    swa_path = out_dir / "swa.safetensors"
    if procs.main:
        if swa is not None:
            save_weights(swa.averaged(params), swa_path, {"objective": cfg.objective, "swa_epochs": swa.epochs})
        else:
            write_no_swa(swa_path, cfg.objective)
        write_json(
            out_dir / "train_info.json", {**info, "steps": step, "swa_epochs": swa.epochs if swa is not None else None}
        )
        # Last: model.safetensors is what the workflow waits for, so it marks a finished run.
        save_weights(params, out_dir / "model.safetensors", {"objective": cfg.objective, "steps": step})
    barrier(procs)
    model.eval()
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
