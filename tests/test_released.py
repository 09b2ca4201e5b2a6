"""Import of released Open-VCLIP checkpoints (PySlowFast format, OpenAI key names under `model.`)."""

import argparse
import json

import pytest
import torch

from openvclip.cli import main
from openvclip.models import enable_temporal_attention, encode_video, load_clip, video_logits
from openvclip.weights import load_weights, save_weights

from .conftest import make_clip, released_checkpoint, tiny_config

SPEC = {"config": tiny_config()}


@pytest.fixture
def trained(tmp_path):
    """theta0 on disk, and a 'released' model: theta0 with its vision tower moved, temporal attention (zeros)."""
    theta0 = make_clip(seed=0)
    save_weights(theta0.state_dict(), tmp_path / "theta0.safetensors")
    released = make_clip(seed=0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in released.named_parameters():
            if name.startswith("visual."):
                p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return tmp_path / "theta0.safetensors", enable_temporal_attention(released, boundary="zeros").eval()


def test_a_released_checkpoint_converts_and_evaluates_to_the_original_logits(tmp_path, trained, capsys):
    theta0, released = trained
    released_checkpoint(tmp_path / "openvclip.pth", released)
    out = tmp_path / "released.safetensors"
    assert (
        main(
            [
                "import-released",
                "--model",
                json.dumps(SPEC),
                "--checkpoint",
                str(tmp_path / "openvclip.pth"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "text-tower tensors left out" in printed and "missing" not in printed and "--boundary zeros" in printed
    weights = load_weights(out)
    assert set(weights) == {k for k in released.state_dict() if k.startswith("visual.")} | {"logit_scale"}
    # Evaluated the way `openvclip evaluate --boundary zeros` loads it: theta0, then the weights at ratio 0.
    model = load_clip(SPEC, theta0, temporal=True, boundary="zeros")
    model.load_state_dict(weights, strict=False)
    video = torch.randn(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    classifier = torch.nn.functional.normalize(torch.randn(32, 5, generator=torch.Generator().manual_seed(4)), dim=0)
    with torch.no_grad():
        expected = video_logits(encode_video(released, video), classifier, released.logit_scale)
        got = video_logits(encode_video(model, video), classifier, model.logit_scale)
        original = load_clip(SPEC, theta0, temporal=True, boundary="zeros")
        untouched = video_logits(encode_video(original, video), classifier, original.logit_scale)
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(untouched, expected, atol=1e-3)  # the import changed something that matters


def test_half_precision_and_ddp_prefixes_load_as_float32(tmp_path, trained):
    _, released = trained
    state = {f"module.model.{k}": v.half() for k, v in released.state_dict().items()}
    torch.save({"model_state": state}, tmp_path / "half.pth")
    assert (
        main(
            [
                "import-released",
                "--model",
                json.dumps(SPEC),
                "--checkpoint",
                str(tmp_path / "half.pth"),
                "--out",
                str(tmp_path / "w.safetensors"),
            ]
        )
        == 0
    )
    weights = load_weights(tmp_path / "w.safetensors")
    assert {v.dtype for v in weights.values()} == {torch.float32}
    # Exactly the fp16 values widened, bit for bit, for every key the import keeps (the vision tower and the
    # logit scale: what the released training changed).
    state = released.state_dict()
    assert set(weights) == {k for k in state if k.startswith("visual.") or k == "logit_scale"}
    assert all(torch.equal(weights[k], state[k].half().float()) for k in weights)


def test_arbitrary_objects_are_never_unpickled(tmp_path, trained, capsys):
    _, released = trained
    released_checkpoint(tmp_path / "pickled.pth", released, cfg=argparse.Namespace(note="code could hide here"))
    assert (
        main(
            [
                "import-released",
                "--model",
                json.dumps(SPEC),
                "--checkpoint",
                str(tmp_path / "pickled.pth"),
                "--out",
                str(tmp_path / "w.safetensors"),
            ]
        )
        == 2
    )
    assert "weights_only=True" in capsys.readouterr().err
    assert not (tmp_path / "w.safetensors").exists()


def test_missing_and_unexpected_keys_are_reported(tmp_path, trained, capsys):
    _, released = trained
    state = {f"model.{k}": v for k, v in released.state_dict().items() if k != "visual.proj"}
    state["model.prompt_learner.ctx"] = torch.zeros(4, 8)
    torch.save({"model_state": state}, tmp_path / "partial.pth")
    assert (
        main(
            [
                "import-released",
                "--model",
                json.dumps(SPEC),
                "--checkpoint",
                str(tmp_path / "partial.pth"),
                "--out",
                str(tmp_path / "w.safetensors"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "missing 1: visual.proj" in err and "unexpected 1: prompt_learner.ctx" in err
    assert not (tmp_path / "w.safetensors").exists()
    with pytest.raises(FileNotFoundError):
        load_weights(tmp_path / "w.safetensors")
    other = {f"model.{k}": v for k, v in make_clip(seed=0, width=32).state_dict().items()}
    torch.save({"model_state": other}, tmp_path / "other.pth")
    assert (
        main(
            [
                "import-released",
                "--model",
                json.dumps(SPEC),
                "--checkpoint",
                str(tmp_path / "other.pth"),
                "--out",
                str(tmp_path / "w.safetensors"),
            ]
        )
        == 2
    )
    assert "same architecture" in capsys.readouterr().err


def test_fetch_clip_reads_local_weights_and_names_bad_tags(tmp_path, capsys):
    import open_clip

    # A tiny architecture registered the way open_clip registers its own (a JSON file of CLIP arguments).
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "tiny-openvclip-test.json").write_text(json.dumps(tiny_config()))
    open_clip.add_model_config(tmp_path / "cfg")
    source = make_clip(seed=7)
    torch.save(source.state_dict(), tmp_path / "tiny.pt")
    spec = {"name": "tiny-openvclip-test", "pretrained": str(tmp_path / "tiny.pt")}
    assert main(["fetch-clip", "--model", json.dumps(spec), "--out", str(tmp_path / "theta0.safetensors")]) == 0
    fetched = load_weights(tmp_path / "theta0.safetensors")
    assert all(torch.equal(fetched[k], v) for k, v in source.state_dict().items())
    for bad, message in (
        ({"name": "ViT-B-16", "pretrained": "openia"}, "laion2b_s34b_b88k"),
        ({"name": "ViT-B-61", "pretrained": "openai"}, "not an open_clip architecture"),
        ({"name": "tiny-openvclip-test", "pretrained": str(tmp_path / "gone.pt")}, "existing file"),
    ):
        assert main(["fetch-clip", "--model", json.dumps(bad), "--out", str(tmp_path / "x.safetensors")]) == 2
        assert message in capsys.readouterr().err


BLOCK = [
    "attn.in_proj_weight",
    "attn.in_proj_bias",
    "attn.out_proj.weight",
    "attn.out_proj.bias",
    "ln_1.weight",
    "ln_1.bias",
    "mlp.c_fc.weight",
    "mlp.c_fc.bias",
    "mlp.c_proj.weight",
    "mlp.c_proj.bias",
    "ln_2.weight",
    "ln_2.bias",
]


def released_names(vision_layers: int, text_layers: int) -> list:
    """Every key of a released Open-VCLIP checkpoint as its model code names them (OpenAI CLIP's names under
    `model.`; no other parameter or buffer)."""
    vision = [
        "conv1.weight",
        "class_embedding",
        "positional_embedding",
        "ln_pre.weight",
        "ln_pre.bias",
        *[f"transformer.resblocks.{i}.{b}" for i in range(vision_layers) for b in BLOCK],
        "ln_post.weight",
        "ln_post.bias",
        "proj",
    ]
    text = [
        *[f"transformer.resblocks.{i}.{b}" for i in range(text_layers) for b in BLOCK],
        "token_embedding.weight",
        "positional_embedding",
        "ln_final.weight",
        "ln_final.bias",
        "text_projection",
    ]
    return [f"model.visual.{k}" for k in vision] + [f"model.{k}" for k in text] + ["model.logit_scale"]


@pytest.mark.parametrize("layout", ["checkpoint", "swa", "ddp"])
def test_every_key_of_a_released_checkpoint_maps(tmp_path, trained, layout, capsys):
    """A checkpoint with exactly the released names (training checkpoint, the SWA tool's file, or keys saved
    from the DDP-wrapped model) converts with nothing missing or unexpected, the logit scale included."""
    _, released = trained
    own = released.state_dict()
    names = released_names(vision_layers=2, text_layers=1)
    assert sorted(k[len("model.") :] for k in names) == sorted(own)  # our fixture model has exactly those keys
    state = {("module." if layout == "ddp" else "") + k: own[k[len("model.") :]].clone() for k in names}
    payload = (
        {"model_state": state}
        if layout == "swa"
        else {"epoch": 22, "model_state": state, "optimizer_state": {}, "cfg": "", "scaler_state": {}}
    )
    torch.save(payload, tmp_path / "released.pth")
    assert (
        main(
            [
                "import-released",
                "--model",
                json.dumps(SPEC),
                "--checkpoint",
                str(tmp_path / "released.pth"),
                "--out",
                str(tmp_path / "w.safetensors"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "missing" not in printed and "unexpected" not in printed and "and the logit scale imported" in printed
    weights = load_weights(tmp_path / "w.safetensors")
    assert set(weights) == {k[len("model.") :] for k in names if k.startswith(("model.visual.", "model.logit"))}
    assert all(torch.equal(weights[k], own[k]) for k in weights)
