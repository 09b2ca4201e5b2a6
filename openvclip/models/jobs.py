"""The model jobs of the workflow: fetch real CLIP weights (theta0), convert a released checkpoint, cache a data
set's text side. Each reads its inputs, writes its outputs atomically and is one `openvclip` subcommand."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

import torch
import torch.nn.functional as F

from ..errors import UserError
from ..io import atomic_path
from .clip import build_clip, build_tokenizer, load_clip, uses_quick_gelu
from .descriptions import ClassText, read_description_files
from .text import PAPER_TEMPLATES, build_classifier, check_templates


def fetch_clip(model_spec: Mapping, out: Path) -> None:
    """Real CLIP weights through open_clip's ``pretrained=`` (downloads to its cache), saved as theta0 with the
    activation they need (QuickGELU for OpenAI's) recorded beside them."""
    import open_clip

    from ..weights import save_weights

    pretrained = model_spec.get("pretrained")
    if not pretrained:
        raise UserError("clip.model.pretrained is not set: name the open_clip weights to fetch (e.g. 'openai')")
    name = model_spec.get("name")
    if name not in open_clip.list_models():
        raise UserError(
            f"clip.model.name {name!r} is not an open_clip architecture; e.g. ViT-B-16, ViT-B-32, "
            "ViT-L-14 (open_clip.list_models() lists them)"
        )
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        # Not a registered tag: a local file (OpenAI .pt, open_clip .bin/.safetensors) or an hf-hub: name.
        if not str(pretrained).startswith("hf-hub:") and not Path(pretrained).is_file():
            raise UserError(
                f"clip.model.pretrained {pretrained!r} is neither a weights tag of {name} "
                f"({', '.join(tags) or 'none'}) nor an existing file"
            )
    model = build_clip(model_spec)
    save_weights(
        model.state_dict(),
        out,
        {
            "source": f"open_clip {model_spec['name']} {model_spec['pretrained']}",
            "quick_gelu": bool(uses_quick_gelu(model_spec)),
        },
    )


def import_released(model_spec: Mapping, checkpoint: Path, out: Path) -> str:
    """Convert a released Open-VCLIP checkpoint (PySlowFast .pth) into our weights file; returns the report."""
    from ..weights import save_weights
    from .released import import_released as convert

    spec = {k: v for k, v in model_spec.items() if k not in ("pretrained", "temporal")}
    imported = convert(checkpoint, build_clip(spec))
    report = imported.report()
    if imported.missing:
        raise UserError(f"{checkpoint} lacks vision weights the model {spec} has; nothing written.\n{report}")
    save_weights(
        imported.weights,
        out,
        {"source": f"released checkpoint {checkpoint}", "epoch": imported.epoch, "boundary": "zeros"},
    )
    return report


def embed_text(
    model_spec: Mapping,
    theta0: Path,
    *,
    rows: Sequence[Mapping[str, str]],
    classes: Sequence[str],
    column: str,
    protocol: str,
    templates: Sequence[str],
    out: Path,
    source: str,
    descriptions: Optional[Path] = None,
    aliases: Optional[Mapping[str, str]] = None,
) -> None:
    """Cache the text side of a data set (``rows`` and ``classes``: its manifest labelled by ``column``, read from
    ``source``): the class classifier (from the class names, or from descriptions: a file, or a folder of files
    read in name order, see ``descriptions.py``) with the class texts it was built from, or one caption embedding
    per video."""
    model = load_clip(model_spec, theta0)
    tokenizer = build_tokenizer(model_spec)
    if protocol == "retrieval":
        if descriptions is not None:
            raise UserError(f"{source}: a retrieval set's text is its captions; it takes no descriptions file")
        with torch.no_grad():
            captions = [r[column] for r in rows]
            embeddings = torch.cat(
                [
                    F.normalize(model.encode_text(tokenizer(captions[i : i + 256])), dim=-1)
                    for i in range(0, len(captions), 256)
                ]
            )
        payload = {"kind": "captions", "captions": captions, "embeddings": embeddings}
    else:
        templates = check_templates(PAPER_TEMPLATES if templates in (None, "paper") else templates)
        texts = None
        if descriptions is not None:
            folder = Path(descriptions)
            # A folder's files in name order; hidden ones are not descriptions (Snakemake's .snakemake_timestamp).
            files = sorted(f for f in folder.iterdir() if not f.name.startswith(".")) if folder.is_dir() else [folder]
            # A class without a video in the manifest (the K600 novel classes outside every split) is scored by
            # no split: it may keep its bare name.
            unscored = set(classes) - {r[column] for r in rows}
            texts = read_description_files(files, classes, aliases, optional=sorted(unscored))
        payload = {
            "kind": "classifier",
            "classnames": classes,
            "templates": list(templates),
            "class_texts": [
                {"name": t.name, "descriptions": list(t.descriptions)}
                for t in (texts or [ClassText(c, ()) for c in classes])
            ],
            "classifier": build_classifier(model, tokenizer, classes, templates, texts=texts),
        }
    with atomic_path(out) as tmp:
        torch.save(payload, tmp)
