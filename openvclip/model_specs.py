"""What a model spec (the config's ``clip.model``: an open_clip name, or a config dict for the demo) declares, read
without building the model, so the workflow's plan needs no torch for it."""

from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

from .errors import UserError


def image_side(size: Union[int, Sequence[int]]) -> int:
    """The side of square frames from an open_clip ``image_size`` (an int or a pair)."""
    return size if isinstance(size, int) else size[0]


def spec_input_size(spec: Mapping[str, Any]) -> int:
    """The side of the frames the spec's vision tower takes: its config's vision ``image_size``, or the named
    open_clip model's (ViT-L-14-336 takes 336); open_clip's default, 224, where the config is silent."""
    if "config" in spec:
        config = spec["config"]
    else:
        import open_clip  # here: only a named model needs it (and torch with it)

        config = open_clip.get_model_config(spec["name"])
        if config is None:
            raise UserError(f"open_clip knows no model named {spec['name']!r}; see open_clip.list_models()")
    return image_side(dict(config).get("vision_cfg", {}).get("image_size", 224))
