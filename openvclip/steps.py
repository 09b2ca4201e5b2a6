"""Pipeline steps: what each workflow rule runs, with explicit inputs, outputs and config slices.

Each function reads files, calls the package's modules and writes its outputs atomically. The CLI maps one
subcommand to each step; the Snakemake rules call those subcommands.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from . import __version__
from .config import config_hash
from .errors import UserError
from .io import write_json
from .report.tables import write_rows


def versions() -> Dict[str, str]:
    import open_clip

    return {"openvclip": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "open_clip": open_clip.__version__}


# ----------------------------------------------------------------------------------------------- data


def prepare_synthetic(world: Mapping, objects: Mapping, dataset: Mapping, name: str, seed: int, raw_dir: Path,
                      manifest: Path, progress: bool = True) -> int:
    """Render a synthetic data set as video files plus its manifest and class list."""
    from .data.manifest import write_lines, write_manifest
    from .data.synthetic import SyntheticSet, World, class_list, generate_set, split_objects

    world_cfg = World.from_dict(world)
    spec = SyntheticSet.from_dict(dataset, name)
    groups = split_objects(seed=seed, **objects)
    if spec.objects not in groups or spec.objects == "heldout":
        raise UserError(f"datasets.{name}.objects = {spec.objects!r}; allowed: finetune, appearance, "
                        "compositional")
    chosen = groups[spec.objects]
    rows = generate_set(world_cfg, spec, chosen, Path(raw_dir), seed, progress)
    write_manifest(manifest, rows, extra=("object", "motion", "object_motion", "caption"))
    write_lines(Path(manifest).with_suffix(".classes.txt"), class_list(chosen, spec.motions, spec.labels))
    return len(rows)


def prepare_dataset(dataset: Mapping, name: str, world: Mapping, objects: Mapping, seed: int, downloads: Path,
                    raw: Path, manifest: Path, progress: bool = True) -> dict:
    """Any data set of the config into its manifest and class list: rendered (synthetic) or fetched, unpacked
    and parsed from its own annotation files (real formats). Returns counts for the log."""
    from .data.manifest import missing_path, write_lines, write_manifest, write_missing

    if "format" not in dataset:
        count = prepare_synthetic(world, objects, dataset, name, seed, raw, manifest, progress)
        write_missing(manifest, {})  # a rendered world lists only what it rendered
        return {"videos": count, "missing": 0}
    from .data.prepare import RealSet, materialise, parse

    spec = RealSet.from_dict(dataset, name)
    folders = materialise(spec, downloads, raw, progress)
    rows, classes, missing = parse(spec, folders)
    if not rows:
        raise UserError(f"data set {name}: no video of its annotations was found among its files "
                        f"({len(missing)} listed, none present under {raw})")
    extra = [c for c in rows[0] if c not in ("path", "label", "classname", "split")]
    write_missing(manifest, missing)
    write_lines(Path(manifest).with_suffix(".classes.txt"), classes)
    write_manifest(manifest, rows, extra=extra)
    if missing:
        print(f"{name}: {len(missing)} listed video(s) absent from the files, skipped; see {missing_path(manifest)}")
    return {"videos": len(rows), "classes": len(classes), "missing": len(missing)}


def extract_frames(manifest: Path, out: Path, settings: Mapping, progress: bool = True, threads: int = 1) -> dict:
    """Decode every video of a manifest once into the frame store folder ``out`` (see data/frame_store.py)."""
    from .data.frame_writer import write_store
    from .data.manifest import read_manifest

    rows = read_manifest(manifest)
    known = {"format", "size", "num_frames", "views", "rate", "quality", "sampling"}
    unknown = set(settings) - known
    if unknown:
        raise UserError(f"frame settings have unknown key(s) {sorted(unknown)}; allowed: {sorted(known)}")
    # Evaluation never scores the split named `train` (training decodes its own clips from the videos): its
    # videos are not decoded into the store (K400: 240k of its 260k videos).
    train_only = [i for i, r in enumerate(rows) if r["split"].split() == ["train"]]
    meta = write_store([Path(r["path"]) for r in rows], out, settings["num_frames"], settings["size"],
                       settings.get("views", 1), settings.get("rate", 0), settings.get("format", "raw"),
                       settings.get("quality", 90), progress, threads, settings.get("sampling", "spread"),
                       skip=train_only)
    if meta["unreadable"]:
        print(f"{len(meta['unreadable'])} unreadable video(s), skipped by evaluation:\n  "
              + "\n  ".join(meta["errors"][:20]))
    return {"videos": len(rows), "train_only_not_decoded": len(train_only), "unreadable": len(meta["unreadable"])}


def labelled(manifest: Path, column: str):
    """``(rows, classnames, labels)`` of a manifest under a labelling column.

    ``classname`` keeps the data set's own class list (``<manifest>.classes.txt``, label indices as written);
    another column (``motion``, ``object_motion``) relabels: its sorted distinct values become the classes.
    """
    from .data.manifest import read_lines, read_manifest

    rows = read_manifest(manifest)
    if column not in rows[0]:
        raise UserError(f"manifest {manifest} has no column {column!r} to label by; columns: {sorted(rows[0])}")
    if column == "classname":
        classes = read_lines(Path(manifest).with_suffix(".classes.txt"))
        labels = np.array([int(r["label"]) for r in rows])
    else:
        classes = sorted({r[column] for r in rows})
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[r[column]] for r in rows])
    return rows, classes, labels


# ----------------------------------------------------------------------------------------------- model


def load_clip(model_spec: Mapping, weights: Optional[Path], temporal: bool = False, boundary: str = "mask"):
    """The CLIP of ``model_spec`` with the full state dict of ``weights`` (theta0) loaded, eval mode."""
    from .models import build_clip, enable_temporal_attention, quick_gelu_of_file, uses_quick_gelu
    from .train import load_weights

    spec = dict(model_spec)
    if weights is not None:
        state = load_weights(weights)
        # The weights come from the file, the activation they were trained with from the spec's tag (or the
        # file's record): dropping the tag alone would rebuild OpenAI's CLIP with GELU.
        quick_gelu = uses_quick_gelu(spec)
        spec = {k: v for k, v in spec.items() if k != "pretrained"}
        spec["quick_gelu"] = quick_gelu if quick_gelu is not None else bool(quick_gelu_of_file(weights))
    model = build_clip(spec)
    if weights is not None:
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise UserError(f"{weights} does not fit model {spec}: missing {missing[:5]}, unexpected "
                            f"{unexpected[:5]}")
    if temporal:
        enable_temporal_attention(model, boundary)
    return model.eval()


def pretrain_clip(model_spec: Mapping, world: Mapping, objects: Mapping, pretrain: Mapping, seed: int,
                  out: Path, metrics: Path, progress: bool = True) -> dict:
    """Pretrain the demo CLIP on captioned still images (theta0 of the demo), and measure its zero-shot."""
    from .data.synthetic import World, all_objects, split_objects
    from .models import build_clip, build_tokenizer
    from .train import save_weights
    from .train.pretrain import PretrainConfig, pretrain_clip as run, zero_shot_accuracy

    cfg = PretrainConfig.from_dict({**pretrain, "seed": pretrain.get("seed", seed)})
    world_cfg = World.from_dict(world)
    torch.manual_seed(cfg.seed)
    model = build_clip(model_spec)
    tokenizer = build_tokenizer(model_spec)
    heldout = set(split_objects(seed=seed, **objects)["heldout"])
    seen = [o for o in all_objects() if o not in heldout]
    log = run(model, tokenizer, world_cfg, seen, cfg, progress)
    accuracy = zero_shot_accuracy(model, tokenizer, world_cfg, all_objects(), cfg.eval_images_per_object,
                                  cfg.seed + 7)
    summary = {
        "zero_shot_top1_all": 100 * float(np.mean(list(accuracy.values()))),
        "zero_shot_top1_seen": 100 * float(np.mean([v for k, v in accuracy.items()
                                                    if tuple(k.split(" ", 1)) not in heldout])),
        "zero_shot_top1_heldout": 100 * float(np.mean([accuracy[f"{c} {s}"] for c, s in heldout])),
        "final_loss": log[-1]["loss"], "logit_scale": log[-1]["logit_scale"], "steps": cfg.steps,
    }
    save_weights(model.state_dict(), out, {"source": "synthetic pretraining", "seed": cfg.seed})
    write_json(metrics, {"summary": summary, "per_class_top1": accuracy, "log_every_50": log[::50],
                         "versions": versions()})
    return summary


def fetch_clip(model_spec: Mapping, out: Path) -> None:
    """Real CLIP weights through open_clip's ``pretrained=`` (downloads to its cache), saved as theta0 with the
    activation they need (QuickGELU for OpenAI's) recorded beside them."""
    from .models import build_clip, uses_quick_gelu
    from .train import save_weights

    import open_clip

    pretrained = model_spec.get("pretrained")
    if not pretrained:
        raise UserError("clip.model.pretrained is not set: name the open_clip weights to fetch (e.g. 'openai')")
    name = model_spec.get("name")
    if name not in open_clip.list_models():
        raise UserError(f"clip.model.name {name!r} is not an open_clip architecture; e.g. ViT-B-16, ViT-B-32, "
                        "ViT-L-14 (open_clip.list_models() lists them)")
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        # Not a registered tag: a local file (OpenAI .pt, open_clip .bin/.safetensors) or an hf-hub: name.
        if not str(pretrained).startswith("hf-hub:") and not Path(pretrained).is_file():
            raise UserError(f"clip.model.pretrained {pretrained!r} is neither a weights tag of {name} "
                            f"({', '.join(tags) or 'none'}) nor an existing file")
    model = build_clip(model_spec)
    save_weights(model.state_dict(), out, {"source": f"open_clip {model_spec['name']} {model_spec['pretrained']}",
                                           "quick_gelu": bool(uses_quick_gelu(model_spec))})


def import_released(model_spec: Mapping, checkpoint: Path, out: Path) -> str:
    """Convert a released Open-VCLIP checkpoint (PySlowFast .pth) into our weights file; returns the report."""
    from .models import build_clip
    from .models.released import import_released as convert
    from .train import save_weights

    spec = {k: v for k, v in model_spec.items() if k not in ("pretrained", "temporal")}
    imported = convert(checkpoint, build_clip(spec))
    report = imported.report()
    if imported.missing:
        raise UserError(f"{checkpoint} lacks vision weights the model {spec} has; nothing written.\n{report}")
    save_weights(imported.weights, out, {"source": f"released checkpoint {checkpoint}",
                                         "epoch": imported.epoch, "boundary": "zeros"})
    return report


# ----------------------------------------------------------------------------------------------- text


def embed_text(model_spec: Mapping, theta0: Path, manifest: Path, column: str, protocol: str,
               templates: Sequence[str], out: Path) -> None:
    """Cache the text side of a data set: the class classifier, or one caption embedding per video."""
    import torch.nn.functional as F

    from .models import PAPER_TEMPLATES, build_classifier, build_tokenizer, check_templates

    model = load_clip(model_spec, theta0)
    tokenizer = build_tokenizer(model_spec)
    rows, classes, _ = labelled(manifest, column)
    if protocol == "retrieval":
        with torch.no_grad():
            captions = [r[column] for r in rows]
            embeddings = torch.cat([F.normalize(model.encode_text(tokenizer(captions[i:i + 256])), dim=-1)
                                    for i in range(0, len(captions), 256)])
        payload = {"kind": "captions", "captions": captions, "embeddings": embeddings}
    else:
        templates = check_templates(PAPER_TEMPLATES if templates in (None, "paper") else templates)
        payload = {"kind": "classifier", "classnames": classes, "templates": list(templates),
                   "classifier": build_classifier(model, tokenizer, classes, templates)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, out)


def load_text(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)  # tensors, strings and lists only


# ----------------------------------------------------------------------------------------------- train


def reencode_train_videos(manifest: Path, videos: Path, index: Path, settings: Mapping, threads: int = 1,
                          progress: bool = True) -> dict:
    """Re-encode (or check) the training split's videos once and index them (see data/train_videos.py)."""
    from .data.train_videos import Reencoding, reencode_videos

    return reencode_videos(manifest, videos, index, Reencoding.from_dict(settings), threads=threads,
                           progress=progress)


def train_variant(model_spec: Mapping, theta0: Path, temporal: bool, boundary: str, train: Mapping,
                  videos: Path, manifest: Path, text: Path, column: str, out_dir: Path, device: str = "auto",
                  progress: bool = True, max_unreadable: Optional[float] = None) -> dict:
    """Train one variant; under torchrun every process runs this and joins the process group first.
    ``max_unreadable``: the training set's limit on lost videos (None: the default)."""
    from .train import TrainConfig
    from .train.distributed import setup, teardown

    cfg = TrainConfig.from_dict(train)
    procs, device = setup(device)
    try:
        return _train_variant(model_spec, theta0, temporal, boundary, cfg, videos, manifest, text, column, out_dir,
                              device, progress, max_unreadable)
    finally:
        teardown(procs)


def training_clips(index: Path, manifest: Path, column: str, cfg, max_unreadable: Optional[float] = None
                   ) -> Tuple[torch.utils.data.Dataset, dict]:
    """The training set: the indexed training videos that decode (clips drawn on the fly), and what was lost;
    more lost (missing on disk or unreadable) than ``max_unreadable`` allows is refused."""
    from .data.clips import VideoClips
    from .data.losses import SplitVideos, check_losses
    from .data.manifest import missing_path, read_missing, split_counts
    from .data.train_videos import read_index

    rows, classes, labels = labelled(manifest, column)
    entries = read_index(index)
    if any(int(e["row"]) >= len(rows) for e in entries):
        raise UserError(f"training-video index {index} does not match manifest {manifest} (rows past its end); "
                        "re-run the train_videos rule")
    usable = [e for e in entries if e["status"] == "ok"]
    lost = [e for e in entries if e["status"] != "ok"]
    if not usable:
        raise UserError(f"none of the {len(entries)} training videos indexed in {index} is readable")
    missing = split_counts(read_missing(manifest).values(), ["train"])["train"]
    check_losses(Path(manifest).stem, "train", SplitVideos(missing, len(lost), len(usable)), max_unreadable,
                 str(missing_path(manifest)), f"{index} (column 'error')")
    dataset = VideoClips([e["path"] for e in usable], [int(labels[int(e["row"])]) for e in usable],
                         cfg.augmentation(), seed=cfg.seed)
    return dataset, {"train_videos": len(usable), "train_videos_skipped": len(lost), "train_videos_missing": missing,
                     "train_videos_skipped_examples": [f"{e['source']}: {e['error']}" for e in lost[:10]],
                     "classes": len(classes)}


def _train_variant(model_spec, theta0, temporal, boundary, cfg, videos, manifest, text, column, out_dir, device,
                   progress, max_unreadable) -> dict:
    from .train import fit
    from .train.distributed import current

    model = load_clip(model_spec, theta0, temporal, boundary)
    size = model.visual.image_size
    size = size if isinstance(size, int) else size[0]
    if cfg.crop_size != size:
        raise UserError(f"config key 'train.crop_size' = {cfg.crop_size} differs from the model's input size "
                        f"{size}; set train.crop_size: {size} (and train.jitter_scales to match)")
    _, classes, _ = labelled(manifest, column)
    payload = load_text(text)
    if payload.get("classnames") != classes:
        raise UserError(f"text classifier {text} was built for other classes than {manifest} labelled by "
                        f"{column!r}; rebuild it")
    dataset, counts = training_clips(videos, manifest, column, cfg, max_unreadable)
    if current().main:  # the log says what training lost before it starts
        print(f"training on {counts['train_videos']} videos; skipped {counts['train_videos_skipped']} unreadable "
              f"(listed in {videos}) and {counts['train_videos_missing']} missing on disk" +
              "".join(f"\n  {e}" for e in counts["train_videos_skipped_examples"]), flush=True)
    result = fit(model, dataset, payload["classifier"], cfg, out_dir, device=device, progress=progress,
                 metadata={"temporal": temporal, "boundary": boundary, "labels": column, **counts,
                           "versions": versions()})
    return {k: str(v) for k, v in result.items()}


# ----------------------------------------------------------------------------------------------- evaluate


def novel_split_classes(dataset: Mapping, name: str, classes: Sequence[str]) -> Dict[str, List[int]]:
    """``test1``.. -> the class indices of each K600 novel-class split (its fixed list, as the manifest was made:
    the data set's ``split_source`` and ``seed``)."""
    from .data.prepare import RealSet
    from .data.sets.kinetics import novel_splits

    spec = RealSet.from_dict(dataset, name)
    index = {c: i for i, c in enumerate(classes)}
    return {f"test{k + 1}": sorted(index[c] for c in split)
            for k, split in enumerate(novel_splits(list(classes), spec.split_source, spec.seed))}


def evaluate_variant(model_spec: Mapping, theta0: Path, weights: Path, temporal: bool, boundary: str,
                     ratios: Sequence[float], sets: Sequence[Mapping], variant: str, hash_of: Mapping,
                     out: Path, batch_size: int = 128, progress: bool = True, device: str = "auto") -> int:
    """Sweep test-time interpolation ratios and score every set; writes one tidy CSV plus a JSON sidecar.

    ``sets`` items: ``{name, protocol, frames, manifest, text, column}``, optionally ``eval_splits`` (default:
    every split of the manifest but ``train``) and ``novel_splits`` (a K600 novel-class set's ``datasets`` entry:
    each test split is scored over its own fixed list of classes).
    """
    from .data.frame_store import StoreRows
    from .data.loader import load_store
    from .data.losses import SplitVideos, check_losses
    from .data.manifest import missing_path, read_missing, split_counts
    from .eval.evaluate import EvalSet, split_mask, sweep
    from .report.tables import RESULT_COLUMNS
    from .models import tensors_of
    from .train import load_weights
    from .train.distributed import setup

    _, device = setup(device)
    model = load_clip(model_spec, theta0, temporal, boundary)
    theta = load_weights(weights)
    theta0_visual = tensors_of(model, theta)  # the vision tower, and the logit scale where it was trained
    eval_sets = []
    for item in sets:
        rows, classes, labels = labelled(item["manifest"], item["column"])
        payload = load_text(item["text"])
        if item["protocol"] == "retrieval":
            text = payload["embeddings"]
        else:
            if payload.get("classnames") != classes:
                raise UserError(f"text classifier {item['text']} does not match the classes of {item['manifest']}")
            text = payload["classifier"]
        splits = np.array([r["split"] for r in rows])
        store = load_store(item["frames"])
        if len(store) != len(rows):
            raise UserError(f"frame store {item['frames']} holds {len(store)} videos, manifest {item['manifest']} "
                            f"lists {len(rows)}; re-run frame extraction")
        eval_splits = item.get("eval_splits") or sorted({s for field in splits for s in field.split()} - {"train"})
        # Only the videos of the scored splits are embedded (a training set's train split is not), and only
        # those that decoded (the frame store lists the others).
        scored = np.array([any(s in eval_splits for s in field.split()) for field in splits], dtype=bool)
        valid = store.valid()
        keep = np.flatnonzero(scored & valid)
        unreadable = {split: int((split_mask(splits, split) & ~valid).sum()) for split in eval_splits}
        missing = split_counts(read_missing(item["manifest"]).values(), eval_splits)
        for split in eval_splits:
            videos = SplitVideos(missing[split], unreadable[split], int((split_mask(splits, split) & valid).sum()))
            check_losses(item["name"], split, videos, item.get("max_unreadable"),
                         str(missing_path(item["manifest"])), f"{item['frames']}/meta.json ('errors')")
        if len(keep) == 0:
            raise UserError(f"{item['manifest']} has no readable video in split(s) {eval_splits} to score")
        if item["protocol"] == "retrieval":
            text = text[torch.from_numpy(keep)]
        split_classes = novel_split_classes(item["novel_splits"], item["name"], classes) \
            if item.get("novel_splits") else {}
        eval_sets.append(EvalSet(item["name"], item["protocol"], StoreRows(store, keep), labels[keep], splits[keep],
                                 text, eval_splits, store.meta["views"], split_classes, unreadable, missing))
    digest = config_hash(hash_of)
    rows = sweep(model, theta0_visual, theta, ratios, eval_sets, variant, digest, batch_size, device=device,
                 progress=progress)
    write_rows(out, rows, RESULT_COLUMNS)
    write_json(Path(str(out) + ".json"), {"config_hash": digest, "config": hash_of, "weights": str(weights),
                                          "temporal": temporal, "versions": versions()})
    return len(rows)
