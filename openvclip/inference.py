"""A model in users' hands: zero-shot classification and text-to-video retrieval of any video files.

The model is any open_clip CLIP (frames encoded one by one and averaged) or one of our trained weight files
(temporal attention on, the test-time interpolation ratio applied on load: ``r*theta0 + (1-r)*theta``). Videos
are decoded with decord into the evaluation protocol's views (default 3 clips of 8 frames, 16 frames apart),
the views' embeddings averaged. Videos that cannot be decoded are reported and skipped.

Retrieval caches the video embeddings in ``<folder>/.openvclip/embeddings-<key>.pt``; the key covers the model,
weights, ratio and sampling, and each entry the file's size and modification time, so a second query only
encodes its text and a changed video is encoded again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .errors import MissingInput, UserError
from .io import atomic_path

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")
CACHE_FOLDER = ".openvclip"


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How each video is read: ``views`` clips of ``frames`` frames, ``rate`` apart (0: spread over the video)."""

    frames: int = 8
    views: int = 3
    rate: int = 16


@dataclasses.dataclass
class VideoModel:
    model: torch.nn.Module
    tokenizer: object
    image_size: int
    description: dict  # what was loaded (for cache keys and JSON output)
    device: torch.device = torch.device("cpu")


def parse_model_spec(text: str) -> dict:
    """``NAME:TAG`` (``ViT-B-16:openai``), ``NAME`` or a JSON model spec (``{"config": {...}}`` for small models)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise UserError(f"--model is not valid JSON: {error}") from None
    name, _, tag = text.partition(":")
    return {"name": name, **({"pretrained": tag} if tag else {})}


def load_video_model(
    spec: Mapping,
    theta0: Optional[Path] = None,
    checkpoint: Optional[Path] = None,
    ratio: float = 0.0,
    temporal: Optional[bool] = None,
    boundary: str = "mask",
    device: str = "auto",
) -> VideoModel:
    """The CLIP of ``spec`` (weights from ``spec['pretrained']`` or the full state dict ``theta0``), with the vision
    weights of ``checkpoint`` interpolated at ``ratio`` when given. Temporal attention defaults to on with a
    checkpoint (our weights are trained with it) and off for a plain CLIP."""
    from .devices import setup
    from .models import build_tokenizer, input_size, load_clip, tensors_of
    from .weights import interpolate, load_weights

    if theta0 is None and not spec.get("pretrained"):
        raise UserError(
            "the model has no weights: name them (--model ViT-B-16:openai) or pass --theta0 (the CLIP "
            "weights file, e.g. models/clip/theta0.safetensors: what a checkpoint was trained from)"
        )
    temporal = checkpoint is not None if temporal is None else temporal
    _, device = setup(device)
    model = load_clip(dict(spec), theta0, temporal, boundary)
    if checkpoint is not None:
        weights = load_weights(checkpoint)
        try:
            start = tensors_of(model, weights)
        except ValueError as error:
            raise UserError(f"checkpoint {checkpoint}: {error} (--model)") from None
        model.load_state_dict(interpolate(start, weights, ratio), strict=False)
    size = input_size(model)
    description = {
        "model": dict(spec),
        "theta0": str(theta0) if theta0 else None,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "ratio": ratio if checkpoint else None,
        "temporal": temporal,
        "boundary": boundary,
    }
    return VideoModel(model.to(device).eval(), build_tokenizer(spec), size, description, device)


def find_videos(folder: Path) -> List[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingInput(f"--videos {folder} is not a folder")
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file() and CACHE_FOLDER not in p.relative_to(folder).parts
    )


def _stamp(path: Path) -> Tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@torch.inference_mode()
def embed_video_files(
    vm: VideoModel,
    paths: Sequence[Path],
    sampling: Sampling = Sampling(),
    progress: bool = True,
    cached: Optional[Dict[str, dict]] = None,
) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """({path: (D,) embedding}, {path: why it could not be read}) for ``paths``. ``cached`` entries
    (``{path: {"stamp": (size, mtime_ns), "embedding": tensor}}``) whose file is unchanged are reused."""
    from .data.videos import Unreadable, decode_views
    from .eval.evaluate import embed_frames

    embeddings, unreadable = {}, {}
    for path in tqdm(list(paths), desc="videos", unit="video", disable=not progress):
        key = str(path)
        if not Path(path).is_file():
            unreadable[key] = "no such file"
            continue
        entry = (cached or {}).get(key)
        if entry is not None and tuple(entry["stamp"]) == _stamp(Path(path)):
            embeddings[key] = entry["embedding"]
            continue
        try:
            frames = decode_views(Path(path), sampling.frames, sampling.rate, sampling.views, vm.image_size)
        except Unreadable as error:  # the file's own fault (corrupt, truncated, not a video); a bug propagates
            unreadable[key] = str(error)
            continue
        embeddings[key] = embed_frames(vm.model, frames[None], sampling.views, vm.device)[0]
    return embeddings, unreadable


@torch.inference_mode()
def text_classifier(vm: VideoModel, labels: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
    from .models import build_classifier

    return build_classifier(vm.model, vm.tokenizer, list(labels), templates).cpu()


def classify(
    vm: VideoModel,
    paths: Sequence[Path],
    labels: Sequence[str],
    templates: Sequence[str],
    sampling: Sampling = Sampling(),
    topk: int = 5,
    progress: bool = True,
) -> Tuple[List[dict], Dict]:
    """Per readable video: its top ``topk`` labels with cosine scores and softmax probabilities."""
    labels = checked_labels(labels)
    classifier = text_classifier(vm, labels, templates)
    embeddings, unreadable = embed_video_files(vm, paths, sampling, progress)
    scale = float(vm.model.logit_scale.detach().exp())
    results = []
    for path, embedding in embeddings.items():
        scores = F.normalize(embedding, dim=-1) @ classifier
        probabilities = torch.softmax(scale * scores, dim=-1)
        order = torch.argsort(scores, descending=True)[:topk]
        results.append(
            {
                "video": path,
                "top": [
                    {
                        "label": labels[i],
                        "score": round(float(scores[i]), 5),
                        "probability": round(float(probabilities[i]), 5),
                    }
                    for i in order.tolist()
                ],
            }
        )
    return results, unreadable


def _cache_key(vm: VideoModel, sampling: Sampling) -> str:
    description = dict(vm.description)
    for name in ("theta0", "checkpoint"):
        if description.get(name):  # a new file at the same path must not reuse old embeddings
            description[name] = [description[name], *_stamp(Path(description[name]))]
    text = json.dumps({"model": description, "sampling": dataclasses.asdict(sampling)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def retrieve(
    vm: VideoModel,
    folder: Path,
    queries: Sequence[str],
    templates: Sequence[str] = ("{}",),
    sampling: Sampling = Sampling(),
    topk: int = 5,
    progress: bool = True,
) -> Tuple[List[dict], Dict, dict]:
    """Rank the videos under ``folder`` for each text query. Returns (per query its top videos, unreadable
    videos, cache facts: file, encoded, reused)."""
    queries, paths = checked_queries(queries), videos_under(folder)
    cache_file = Path(folder) / CACHE_FOLDER / f"embeddings-{_cache_key(vm, sampling)}.pt"
    cached = {}
    if cache_file.is_file():
        payload = torch.load(cache_file, map_location="cpu", weights_only=True)
        cached = {
            entry["path"]: {"stamp": entry["stamp"], "embedding": entry["embedding"]}
            for entry in payload.get("videos", [])
        }
    embeddings, unreadable = embed_video_files(vm, paths, sampling, progress, cached)
    reused = sum(1 for p, e in embeddings.items() if p in cached and e is cached[p]["embedding"])
    if len(embeddings) != reused or set(cached) != set(embeddings):
        with atomic_path(cache_file) as tmp:
            videos = [{"path": p, "stamp": list(_stamp(Path(p))), "embedding": e} for p, e in embeddings.items()]
            torch.save({"videos": videos}, tmp)
    if not embeddings:
        raise UserError(f"none of the {len(paths)} videos under {folder} could be read")
    names = list(embeddings)
    videos = F.normalize(torch.stack([embeddings[p] for p in names]), dim=-1)
    texts = text_classifier(vm, queries, templates)  # (D, Q): template-averaged query embeddings
    similarity = (videos @ texts).T  # (Q, N)
    results = []
    for q, query in enumerate(queries):
        order = torch.argsort(similarity[q], descending=True)[:topk]
        results.append(
            {
                "query": query,
                "top": [{"video": names[i], "score": round(float(similarity[q, i]), 5)} for i in order.tolist()],
            }
        )
    return results, unreadable, {"file": str(cache_file), "encoded": len(embeddings) - reused, "reused": reused}


def read_labels(labels: Optional[str], labels_file: Optional[Path]) -> List[str]:
    """Labels from ``--labels "a,b,c"`` and/or a file with one label per line (blank lines and # comments
    skipped), checked as :func:`checked_labels` checks them, the message naming where they came from."""
    found = [x.strip() for x in (labels or "").split(",") if x.strip()]
    sources = ["--labels"] if labels is not None else []
    if labels_file is not None:
        if not Path(labels_file).is_file():
            raise MissingInput(f"--labels-file {labels_file} does not exist")
        found += [
            line.strip()
            for line in Path(labels_file).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        sources.append(f"--labels-file {labels_file}")
    return checked_labels(found, " and ".join(sources) or "the command line")


def checked_labels(labels: Sequence[str], source: str = "the labels") -> List[str]:
    """The labels stripped of blanks; at least two, none repeated, or a UserError naming ``source`` and the fix."""
    labels = [label.strip() for label in labels if label.strip()]
    if len(labels) < 2:
        held = f"holds {len(labels)} label{'' if len(labels) == 1 else 's'}" + (f" ({labels[0]!r})" if labels else "")
        raise UserError(
            f"{source} {held}: give at least two (--labels 'ride a bike,play guitar', or --labels-file with one "
            "label per line; blank lines and lines starting with # are skipped)"
        )
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise UserError(f"{source} repeats {repeated}: give each label once (a class is scored once)")
    return labels


def checked_queries(queries: Sequence[str]) -> List[str]:
    """The non-blank queries, or a UserError when none is left."""
    queries = [q.strip() for q in queries if q.strip()]
    if not queries:
        raise UserError("--query is empty: give the text to search for (--query 'a dog catching a frisbee')")
    return queries


def videos_under(folder: Path) -> List[Path]:
    """:func:`find_videos`, or a UserError naming the folder and the suffixes looked for when it holds none."""
    paths = find_videos(folder)
    if not paths:
        raise UserError(
            f"--videos {folder} holds no video files (searched recursively for {', '.join(VIDEO_SUFFIXES)}): "
            "point it at the folder that holds them"
        )
    return paths


def templates_of(name: str) -> Tuple[str, ...]:
    """``paper`` (the paper's prompt templates, averaged), ``none`` (the label text alone) or a JSON list."""
    from .models import PAPER_TEMPLATES

    if name == "paper":
        return tuple(PAPER_TEMPLATES)
    if name == "none":
        return ("{}",)
    try:
        templates = json.loads(name)
    except json.JSONDecodeError:
        raise UserError(
            f"--templates must be 'paper', 'none' or a JSON list of strings with {{}}, got {name!r}"
        ) from None
    if not isinstance(templates, list) or not templates:
        raise UserError("--templates JSON must be a non-empty list of strings")
    return tuple(templates)
