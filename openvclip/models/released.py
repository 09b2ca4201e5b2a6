"""Import of the released Open-VCLIP checkpoints (PySlowFast ``.pth``/``.pyth``) into our weights format.

The released files are ``torch.save`` dicts (``model_state``, ``optimizer_state``, ``epoch``, ``cfg``) whose
``model_state`` holds the OpenAI CLIP state dict under the prefix ``model.`` (and ``module.`` when saved from a
DistributedDataParallel wrapper). OpenAI's key names are open_clip's, so after stripping the prefixes the vision
tower's tensors load into open_clip's model as they are. The released temporal attention pads the missing
neighbours of the first and last frame with zeros: evaluate imported weights with ``temporal.boundary: zeros``.

Files are read with ``torch.load(weights_only=True)``: tensors, numbers, strings and containers only. A file that
needs arbitrary unpickling is refused, never executed.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Dict, List, Mapping

import torch

from ..errors import MissingInput, UserError

STATE_KEYS = ("model_state", "state_dict", "model")
PREFIXES = ("module.", "model.")
# Entries of OpenAI's state dict that are not parameters (open_clip drops them too).
OPENAI_EXTRAS = ("input_resolution", "context_length", "vocab_size")


@dataclasses.dataclass
class Imported:
    weights: Dict[str, torch.Tensor]  # the vision tower (``visual.*``) and the trained logit scale
    missing: List[str]  # vision keys the model has and the checkpoint lacks
    unexpected: List[str]  # checkpoint keys the model does not have
    text_keys: int  # text-tower tensors in the checkpoint (not imported: it stays frozen)
    epoch: object = None

    def report(self) -> str:
        vision = sum(k.startswith("visual.") for k in self.weights)
        lines = [
            f"{vision} vision tensors"
            + (" and the logit scale" if "logit_scale" in self.weights else "")
            + " imported"
            + (f" (epoch {self.epoch})" if self.epoch else ""),
            f"{self.text_keys} text-tower tensors left out (the text encoder stays frozen: theta0's is used)",
        ]
        if self.missing:
            lines.append(f"missing {len(self.missing)}: {', '.join(self.missing[:10])}")
        if self.unexpected:
            lines.append(f"unexpected {len(self.unexpected)}: {', '.join(self.unexpected[:10])}")
        return "\n".join(lines)


def load_checkpoint(path: Path) -> dict:
    """The checkpoint's dict, loaded with ``weights_only=True`` (a clear error for anything else)."""
    path = Path(path)
    if not path.is_file():
        raise MissingInput(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UserError(
            f"{path} holds objects other than tensors and plain containers, so it is not loaded "
            f"(weights_only=True; arbitrary unpickling can run code): {str(error).splitlines()[0]}"
        ) from None
    except (RuntimeError, EOFError) as error:
        raise UserError(f"{path} is not a readable torch checkpoint: {str(error).splitlines()[0]}") from None
    if not isinstance(payload, Mapping):
        raise UserError(f"{path} holds a {type(payload).__name__}, not a checkpoint dict")
    return dict(payload)


def state_dict_of(payload: Mapping) -> Dict[str, torch.Tensor]:
    """The model state inside a checkpoint dict, prefixes stripped."""
    state = next((payload[k] for k in STATE_KEYS if isinstance(payload.get(k), Mapping)), payload)
    out = {}
    for key, value in state.items():
        if not torch.is_tensor(value):
            continue
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value
    if not out:
        raise UserError(f"no tensors found in the checkpoint (looked in {', '.join(STATE_KEYS)} and the top level)")
    return out


def import_released(path: Path, model: torch.nn.Module) -> Imported:
    """The vision weights of a released checkpoint for ``model`` (an open_clip CLIP of the same architecture).

    Shapes must match; keys are reported, not guessed: missing vision keys and unknown keys are listed."""
    payload = load_checkpoint(path)
    state = state_dict_of(payload)
    own = model.state_dict()
    weights, unexpected, text_keys = {}, [], 0
    for key, value in state.items():
        if key in OPENAI_EXTRAS:
            continue
        if key not in own:
            unexpected.append(key)
            continue
        if tuple(value.shape) != tuple(own[key].shape):
            raise UserError(
                f"{path}: {key} has shape {tuple(value.shape)}, the model {tuple(own[key].shape)}: "
                "is it the same architecture (ViT-B/16 vs B/32, L/14)?"
            )
        if key.startswith("visual.") or key == "logit_scale":  # what the released training changed
            weights[key] = value.to(own[key].dtype)
        else:
            text_keys += 1
    missing = sorted(k for k in own if k.startswith("visual.") and k not in weights)
    if not weights:
        raise UserError(
            f"{path}: none of its {len(state)} tensors is a vision-tower weight of this model "
            f"(first keys: {', '.join(list(state)[:5])})"
        )
    return Imported(weights, missing, sorted(unexpected), text_keys, payload.get("epoch"))
