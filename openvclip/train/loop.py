"""Training loop: plain fine-tuning or the interpolated objective, SWA, checkpoints, exact resume.

Only the vision tower trains; the text classifier is computed once from the frozen text encoder. Each epoch
ends with a checkpoint directory (weights as safetensors, optimizer/scheduler/SWA/RNG state as a torch file),
written under a temporary name and renamed when complete, so a crash never leaves a half-written checkpoint.
Resuming restarts at the epoch after the last complete checkpoint and gives the same weights as an
uninterrupted run: the data order of each epoch is seeded from (seed, epoch), each sample's augmentation from
(seed, epoch, sample), and every RNG state is restored.

Under ``torchrun`` the processes split each global batch (``train.batch_size``) and sum their gradients
(``distributed.py``); only the main process writes, and a checkpoint resumes with any number of processes.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..config import from_mapping
from ..data.clips import SAMPLINGS, ClipAugmentation, EpochBatches
from ..errors import MissingInput, UserError
from ..io import write_json
from ..models import clone_parameters, encode_video, freeze_text_tower, trained_parameters, video_logits
from .distributed import GlobalBatches, barrier, current, sum_gradients, sum_values
from .objective import GRADIENTS, interpolated_backward
from .swa import WeightAverage

OBJECTIVES = ("frozen", "finetune", "openvclip")
AMP_MODES = ("auto", "off", "bf16", "fp16")
LOG_COLUMNS = ("epoch", "step", "lr", "alpha", "loss", "loss_interpolated", "grad_norm", "seconds")


@dataclasses.dataclass
class TrainConfig:
    """The ``train:`` section. Defaults are the paper's recipe where it has one (ViT-B/16, K400)."""

    objective: str = "openvclip"        # frozen (no training) | finetune (plain loss) | openvclip
    epochs: int = 22
    batch_size: int = 8
    num_frames: int = 8
    lr: float = 3.33e-6
    warmup_epochs: float = 2.0
    warmup_start_lr: float = 3.33e-8
    end_lr: float = 3.33e-8
    weight_decay: float = 0.01
    clip_grad_norm: float = 1.0         # 0 switches clipping off
    alpha_low: float = 0.0
    alpha_high: float = 0.6
    lam: float = 0.5
    gradient: str = "paper"             # paper: (1-alpha) chain-rule factor | official: the released code's
    train_logit_scale: bool = False     # train CLIP's logit scale beside the vision tower (the released code does)
    swa: Optional[bool] = None          # None: on for openvclip, off otherwise
    swa_start_epoch: int = 2
    swa_every: int = 1
    amp: str = "auto"                   # auto: fp16 on CUDA (the paper's mixed precision), off on CPU
    grad_checkpointing: bool = False
    seed: int = 0
    num_workers: int = 0
    keep_checkpoints: int = 1
    max_steps_per_epoch: int = 0        # 0: the whole data set each epoch
    # Training clips (openvclip/data/clips.py), as the released loader draws them: num_frames frames
    # sampling_rate apart at 30 fps from a random start, the short side jittered in jitter_scales, a random
    # crop_size crop, a left-right mirror with probability flip.
    frame_sampling: str = "released_pyav"   # released_pyav | spread (rate <= 0: over the whole video)
    sampling_rate: int = 16
    jitter_scales: List[int] = dataclasses.field(default_factory=lambda: [224, 256])
    crop_size: int = 224
    flip: float = 0.5

    def validate(self) -> None:
        def need(ok: bool, key: str, allowed: str) -> None:
            if not ok:
                raise UserError(f"config key 'train.{key}' = {getattr(self, key)!r} is invalid; allowed: {allowed}")
        need(self.objective in OBJECTIVES, "objective", " | ".join(OBJECTIVES))
        need(self.gradient in GRADIENTS, "gradient", " | ".join(GRADIENTS))
        need(self.amp in AMP_MODES, "amp", " | ".join(AMP_MODES))
        need(self.epochs >= 1, "epochs", ">= 1")
        need(self.batch_size >= 1, "batch_size", ">= 1")
        need(self.num_frames >= 1, "num_frames", ">= 1")
        need(self.lr > 0, "lr", "> 0")
        need(0 <= self.warmup_epochs <= self.epochs, "warmup_epochs", "0 .. train.epochs")
        need(0 <= self.alpha_low <= 1, "alpha_low", "0 .. 1")
        need(self.alpha_low <= self.alpha_high <= 1, "alpha_high", "train.alpha_low .. 1")
        need(self.lam >= 0, "lam", ">= 0")
        need(self.clip_grad_norm >= 0, "clip_grad_norm", ">= 0 (0 = off)")
        need(1 <= self.swa_start_epoch <= self.epochs, "swa_start_epoch", "1 .. train.epochs")
        need(self.swa_every >= 1, "swa_every", ">= 1")
        need(self.keep_checkpoints >= 1, "keep_checkpoints", ">= 1")
        need(self.max_steps_per_epoch >= 0, "max_steps_per_epoch", ">= 0")
        need(self.frame_sampling in SAMPLINGS, "frame_sampling", " | ".join(SAMPLINGS))
        need(len(self.jitter_scales) == 2 and self.crop_size <= self.jitter_scales[0] <= self.jitter_scales[1],
             "jitter_scales", "[low, high] with train.crop_size <= low <= high")
        need(0 <= self.flip <= 1, "flip", "0 .. 1 (a probability)")

    def augmentation(self) -> ClipAugmentation:
        """How each training clip is drawn from its video."""
        return ClipAugmentation(num_frames=self.num_frames, rate=self.sampling_rate, sampling=self.frame_sampling,
                                jitter_scales=tuple(self.jitter_scales), crop_size=self.crop_size, flip=self.flip)

    @property
    def interpolated(self) -> bool:
        return self.objective == "openvclip"

    @property
    def use_swa(self) -> bool:
        return self.interpolated if self.swa is None else self.swa

    @classmethod
    def from_dict(cls, values: Optional[Mapping]) -> "TrainConfig":
        return from_mapping(cls, values, "train")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def warmup_cosine(step: int, total: int, warmup: int, base: float, start: float, end: float) -> float:
    """Learning rate at ``step``: linear from ``start`` to ``base`` over ``warmup`` steps, then cosine to ``end``."""
    if step < warmup:
        return start + (base - start) * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return end + (base - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _rng_state() -> dict:
    """Every global generator's state as tensors and plain values (what ``torch.load(weights_only=True)`` reads)."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(position),
                                                       int(has_gauss), float(cached)),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_weights(weights: Mapping[str, torch.Tensor], path: Path, metadata: Optional[dict] = None) -> None:
    """Safetensors file written atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
    save_file(tensors, str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})
    os.replace(tmp, path)


def load_weights(path: Path) -> Dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise MissingInput(f"weights file {path} does not exist")
    weights = load_file(str(path))
    if not weights:
        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}).get("swa") == "off":
                raise UserError(f"{path} holds no SWA average: its training ran with SWA off (train.swa; on by "
                                f"default for the openvclip objective only); its weights are {path.parent}/"
                                "model.safetensors")
    return weights


def write_no_swa(path: Path, objective: str) -> None:
    """``swa.safetensors`` of a training without SWA: no tensors, metadata ``swa: off``. Every training writes
    the file, so the workflow declares it as an output of every training (what a rule reads, a rule declares);
    :func:`load_weights` refuses it by name."""
    save_weights({}, path, {"swa": "off", "objective": objective})


def _checkpoint_dirs(root: Path):
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("epoch-")
                  and not p.name.endswith(".tmp") and (p / "state.pt").is_file())


def latest_checkpoint(out_dir: Path) -> Optional[Path]:
    dirs = _checkpoint_dirs(Path(out_dir) / "checkpoints")
    return dirs[-1] if dirs else None


class _CsvLog:
    """Appends rows; on resume, drops rows after the checkpoint's step so the log matches the weights."""

    def __init__(self, path: Path, resume_step: Optional[int]):
        self.path = path
        rows = []
        if resume_step is not None and path.is_file():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, LOG_COLUMNS).writerow(row)


def _amp_mode(cfg: TrainConfig, device: torch.device) -> str:
    return ("fp16" if device.type == "cuda" else "off") if cfg.amp == "auto" else cfg.amp


def _amp(cfg: TrainConfig, device: torch.device):
    mode = _amp_mode(cfg, device)
    if mode == "off":
        return nullcontext, None
    if device.type != "cuda":
        raise UserError(f"train.amp={cfg.amp!r} needs a CUDA device; on {device.type} use amp: off (or auto)")
    dtype = torch.float16 if mode == "fp16" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda") if mode == "fp16" else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def weight_decay_split(params: Mapping[str, torch.Tensor]) -> Tuple[List[str], List[str]]:
    """(names that decay, names that do not), as the released code groups them (its ZERO_WD_1D_PARAM): no weight
    decay on 1-D tensors (gains, the class embedding) and biases; matrices, the positional embedding and the
    0-D logit scale decay."""
    no_decay = [k for k, p in params.items() if p.ndim == 1 or k.endswith(".bias")]
    return [k for k in params if k not in no_decay], no_decay


def fit(model: nn.Module, dataset: Dataset, classifier: torch.Tensor, cfg: TrainConfig, out_dir: Path,
        device: str | torch.device = "cpu", theta0: Optional[Mapping[str, torch.Tensor]] = None,
        progress: bool = True, collate_fn: Optional[Callable] = None, metadata: Optional[dict] = None) -> dict:
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
    info = {"objective": cfg.objective, "config": dataclasses.asdict(cfg), "metadata": metadata or {},
            "torch": torch.__version__, "processes": procs.world, "device": str(device),
            "amp": _amp_mode(cfg, device)}

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
    optimizer = torch.optim.AdamW([{"params": [params[k] for k in decay], "weight_decay": cfg.weight_decay},
                                   {"params": [params[k] for k in no_decay], "weight_decay": 0.0}], lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(
        step, total_steps, warmup_steps, cfg.lr, cfg.warmup_start_lr, cfg.end_lr) / cfg.lr)
    swa = WeightAverage(cfg.swa_start_epoch, cfg.swa_every) if cfg.use_swa else None
    alpha_rng = torch.Generator().manual_seed(cfg.seed + 1)
    autocast, scaler = _amp(cfg, device)

    start_epoch, step = 1, 0
    fingerprint = _fingerprint(cfg, metadata, len(dataset))
    resume = latest_checkpoint(out_dir)
    if resume is not None:
        # Tensors and plain values only: a state file (perhaps from a shared file system) runs no code.
        state = torch.load(resume / "state.pt", map_location="cpu", weights_only=True)
        if state.get("fingerprint") != fingerprint:
            # Written by a run with another config or data: resuming would mix two trainings.
            differing = sorted(k for k in set(fingerprint) | set(state.get("fingerprint") or {})
                               if fingerprint.get(k) != (state.get("fingerprint") or {}).get(k))
            if procs.main:
                print(f"checkpoints in {out_dir / 'checkpoints'} come from a run with other settings "
                      f"({', '.join(differing) or 'unknown'}); discarding them and starting afresh")
                shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
                for name in ("train_log.csv", "model.safetensors", "swa.safetensors"):
                    (out_dir / name).unlink(missing_ok=True)
            resume = None
    barrier(procs)  # every process has read the checkpoint (or seen it discarded) before anyone writes
    if resume is not None:
        weights = load_weights(resume / "model.safetensors")
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(weights[k])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if swa is not None:
            swa.load_state_dict(state["swa"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        alpha_rng.set_state(state["alpha_rng"])
        _set_rng_state(state["rng"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        if procs.main:  # a rerun after a kill says where it picks up
            print(f"resuming from checkpoint {resume} (epoch {state['epoch']}, step {step})", flush=True)
    log = _CsvLog(out_dir / "train_log.csv", step if resume is not None else None) if procs.main else None

    def loss_of(weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        # This process's share of the global batch's mean loss: the sum over its samples / the global count
        # (its first ``scored`` samples; none when it only pads a short last batch).
        visual = {k: v for k, v in weights.items() if k != "logit_scale"}
        with autocast():
            logits = video_logits(encode_video(model, video, params=visual, expected_frames=cfg.num_frames),
                                  classifier, weights.get("logit_scale", frozen_logit_scale))
        return F.cross_entropy(logits.float(), labels, reduction="none")[:scored].sum() / batch_total

    model.train()
    sampler, loader = training_loader(dataset, cfg, procs, device, collate_fn)
    for epoch in range(start_epoch, cfg.epochs + 1):
        sampler.set_epoch(epoch)
        batches = sampler.batches
        bar = tqdm(total=steps_per_epoch, desc=f"{cfg.objective} epoch {epoch}/{cfg.epochs}",
                   disable=not (progress and procs.main), leave=False)
        for batch_index, (video, labels) in enumerate(loader):
            scored, batch_total = batches.counts(batch_index)
            began = time.perf_counter()
            video, labels = video.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            scale = scaler.scale if scaler is not None else (lambda x: x)
            alpha = float("nan")
            if cfg.interpolated:
                alpha = float(torch.empty(()).uniform_(cfg.alpha_low, cfg.alpha_high, generator=alpha_rng))
                loss, loss_alpha = interpolated_backward(loss_of, params, theta0, alpha, cfg.lam, cfg.gradient,
                                                         scale=scale)
            else:
                loss = loss_of(params)
                scale(loss).backward()
                loss, loss_alpha = loss.detach(), torch.tensor(float("nan"), device=device)
            sum_gradients(params, procs)
            loss, loss_alpha = sum_values(torch.stack([loss, loss_alpha]), procs)
            if scaler is not None:
                scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(
                list(params.values()), cfg.clip_grad_norm if cfg.clip_grad_norm > 0 else float("inf"))
            lr = optimizer.param_groups[0]["lr"]
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            step += 1
            if log is None:
                continue
            log.write({"epoch": epoch, "step": step, "lr": f"{lr:.6g}", "alpha": f"{alpha:.4f}",
                       "loss": f"{loss.item():.6f}", "loss_interpolated": f"{loss_alpha.item():.6f}",
                       "grad_norm": f"{grad_norm.item():.4f}", "seconds": f"{time.perf_counter() - began:.4f}"})
            bar.set_postfix(loss=f"{loss.item():.3f}")
            bar.update()
        bar.close()
        if swa is not None and swa.due(epoch):
            swa.update(params, epoch)
        if procs.main:
            _save_checkpoint(out_dir, epoch, step, params, optimizer, scheduler, swa, scaler, alpha_rng,
                             cfg.keep_checkpoints, fingerprint)
        barrier(procs)

    swa_path = out_dir / "swa.safetensors"
    if procs.main:
        if swa is not None:
            save_weights(swa.averaged(params), swa_path, {"objective": cfg.objective, "swa_epochs": swa.epochs})
        else:
            write_no_swa(swa_path, cfg.objective)
        write_json(out_dir / "train_info.json", {**info, "steps": step,
                                                  "swa_epochs": swa.epochs if swa is not None else None})
        # Last: model.safetensors is what the workflow waits for, so it marks a finished run.
        save_weights(params, out_dir / "model.safetensors", {"objective": cfg.objective, "steps": step})
    barrier(procs)
    model.eval()
    return {"model": out_dir / "model.safetensors", "swa": swa_path, "steps": step}


def training_loader(dataset: Dataset, cfg: TrainConfig, procs=None, device: torch.device = torch.device("cpu"),
                    collate_fn: Optional[Callable] = None) -> Tuple[EpochBatches, DataLoader]:
    """This process's loader over all epochs (call ``sampler.set_epoch(e)`` before iterating epoch ``e``).

    Its workers persist across epochs and decode ahead (``prefetch_factor`` batches each); the epoch reaches
    them inside every sample's key, so what a sample gets depends on (seed, epoch, sample) alone."""
    procs = procs or current()
    sampler = EpochBatches(lambda epoch: GlobalBatches(len(dataset), cfg.batch_size, cfg.seed, epoch, procs,
                                                       cfg.max_steps_per_epoch),
                           keyed=getattr(dataset, "takes_epoch", False))
    workers = {"persistent_workers": True, "prefetch_factor": 4} if cfg.num_workers > 0 else {}
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.num_workers, collate_fn=collate_fn,
                        pin_memory=device.type == "cuda", **workers)
    return sampler, loader


# Settings that do not change the training trajectory: a resumed run may differ in them.
_RESUMABLE_DIFFERENCES = ("num_workers", "keep_checkpoints")


def _fingerprint(cfg: TrainConfig, metadata: Optional[dict], dataset_size: int) -> dict:
    """What a checkpoint must share with the current run to be resumed."""
    values = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RESUMABLE_DIFFERENCES}
    values.update({f"data.{k}": v for k, v in (metadata or {}).items() if k != "versions"})
    values["data.size"] = dataset_size
    return values


def _save_checkpoint(out_dir: Path, epoch: int, step: int, params, optimizer, scheduler, swa, scaler, alpha_rng,
                     keep: int, fingerprint: Optional[dict] = None) -> Path:
    root = out_dir / "checkpoints"
    final = root / f"epoch-{epoch:04d}"
    tmp = root / f"epoch-{epoch:04d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_weights(params, tmp / "model.safetensors", {"epoch": epoch, "step": step})
    torch.save({"epoch": epoch, "step": step, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "swa": swa.state_dict() if swa is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "alpha_rng": alpha_rng.get_state(), "rng": _rng_state(), "fingerprint": fingerprint}, tmp / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in _checkpoint_dirs(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final
