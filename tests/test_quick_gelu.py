"""OpenAI's CLIP weights run with the activation they were trained with (QuickGELU) on every path that builds a
model from them: the fetch, theta0 reloaded for training and evaluation, classify / retrieve, and weights
imported from a released checkpoint. The reference is open_clip's own `-quickgelu` architecture.

No download: open_clip fetches `ViT-B-32:openai` from Hugging Face's hub, which is pointed here at a local cache
holding random weights, offline."""

import warnings

import open_clip
import pytest
import torch
from open_clip.transformer import QuickGELU

from openvclip.inference import load_video_model, parse_model_spec
from openvclip.models import build_clip, load_clip, quick_gelu_of_file, temporal_attention_boundary, uses_quick_gelu
from openvclip.models.jobs import fetch_clip, import_released
from openvclip.weights import load_weights, save_weights
from tests.conftest import released_checkpoint

HUB_FOLDER = "models--timm--vit_base_patch32_clip_224.openai"


@pytest.fixture(scope="module")
def openai_weights(tmp_path_factory):
    """Random ViT-B/32 weights where open_clip's download of `ViT-B-32:openai` finds them."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = {k: v.detach().clone().contiguous() for k, v in open_clip.create_model("ViT-B-32").state_dict().items()}
    cache = tmp_path_factory.mktemp("hub")
    snapshot = cache / HUB_FOLDER / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / "open_clip_model.safetensors"))
    (cache / HUB_FOLDER / "refs").mkdir()
    (cache / HUB_FOLDER / "refs" / "main").write_text("0" * 40)
    return cache, state


@pytest.fixture
def hub(openai_weights, monkeypatch):
    import huggingface_hub.constants as hub_constants

    cache, state = openai_weights
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return state


def reference(state, quick_gelu=True):
    """open_clip's own architecture for the weights: `ViT-B-32-quickgelu` (or plain `ViT-B-32`)."""
    model = open_clip.create_model("ViT-B-32-quickgelu" if quick_gelu else "ViT-B-32")
    model.load_state_dict(state)
    return model.eval()


def activations(model):
    return {
        type(block.mlp.gelu) for tower in (model.visual.transformer, model.transformer) for block in tower.resblocks
    }


def features(model):
    image = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    text = open_clip.get_tokenizer("ViT-B-32")(["a photo of a dog"])
    with torch.no_grad():
        return model.encode_image(image), model.encode_text(text)


def test_the_activation_follows_the_weights():
    assert uses_quick_gelu({"name": "ViT-B-16", "pretrained": "openai"}) is True
    assert uses_quick_gelu({"name": "ViT-B-16", "pretrained": "laion2b_s34b_b88k"}) is False
    assert uses_quick_gelu({"name": "ViT-B-16-quickgelu"}) is True
    assert uses_quick_gelu({"name": "ViT-B-16"}) is None  # no tag: the weights file says
    assert uses_quick_gelu({"name": "ViT-B-16", "pretrained": "openai", "quick_gelu": False}) is False
    assert uses_quick_gelu({"config": {"embed_dim": 8}}) is False


@pytest.mark.e2e
def test_fetched_openai_weights_run_as_open_clips_quickgelu_model(hub, tmp_path):
    expected = features(reference(hub))
    gelu = features(reference(hub, quick_gelu=False))
    assert (expected[0] - gelu[0]).abs().max() > 1e-3  # the activation matters at this size
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # open_clip's "QuickGELU mismatch" warning would fail here
        fetched = build_clip({"name": "ViT-B-32", "pretrained": "openai"})
    assert activations(fetched) == {QuickGELU}
    for got, want in zip(features(fetched), expected):
        assert torch.allclose(got, want, atol=1e-5)
    # fetch-clip records the activation beside theta0; theta0 reloads with it, from the tag or from the file.
    fetch_clip({"name": "ViT-B-32", "pretrained": "openai"}, tmp_path / "theta0.safetensors")
    assert quick_gelu_of_file(tmp_path / "theta0.safetensors") is True
    for spec in ({"name": "ViT-B-32", "pretrained": "openai"}, {"name": "ViT-B-32"}):
        reloaded = load_clip(spec, tmp_path / "theta0.safetensors", temporal=True, boundary="zeros")
        assert activations(reloaded) == {QuickGELU}, spec
    reloaded = load_clip({"name": "ViT-B-32"}, tmp_path / "theta0.safetensors")
    for got, want in zip(features(reloaded), expected):
        assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.e2e
def test_a_weights_file_that_records_no_activation_keeps_the_architectures(hub, tmp_path):
    save_weights(hub, tmp_path / "plain.safetensors")
    assert quick_gelu_of_file(tmp_path / "plain.safetensors") is None
    assert activations(load_clip({"name": "ViT-B-32"}, tmp_path / "plain.safetensors")) == {torch.nn.GELU}
    forced = load_clip({"name": "ViT-B-32", "quick_gelu": True}, tmp_path / "plain.safetensors")
    assert activations(forced) == {QuickGELU}


@pytest.mark.e2e
def test_classify_and_imported_released_weights_run_with_quickgelu(hub, tmp_path):
    # `openvclip classify --model ViT-B-32:openai` (and retrieve, which loads the same way).
    plain = load_video_model(parse_model_spec("ViT-B-32:openai"), device="cpu")
    assert activations(plain.model) == {QuickGELU}
    # A released checkpoint, imported and used over OpenAI's CLIP with zero padding.
    released_checkpoint(tmp_path / "openvclip.pth", reference(hub))
    import_released({"name": "ViT-B-32"}, tmp_path / "openvclip.pth", tmp_path / "released.safetensors")
    video = load_video_model(
        parse_model_spec("ViT-B-32:openai"),
        checkpoint=tmp_path / "released.safetensors",
        boundary="zeros",
        device="cpu",
    )
    assert activations(video.model) == {QuickGELU}
    assert temporal_attention_boundary(video.model) == "zeros"
    assert "logit_scale" in load_weights(tmp_path / "released.safetensors")
