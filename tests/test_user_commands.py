"""The `openvclip` commands of the README's "Use a model on your videos", "Real CLIP weights" and "Command line"
sections, typed as shown, in a folder holding what they name: two clips, a `videos/` folder, a labels file, a
released checkpoint, our weight files, and OpenAI's ViT-B/16 in open_clip's download cache.

The weights are random (no download is possible here) at the real architecture. The only variables the test
sets point Hugging Face's hub, where open_clip downloads `ViT-B-16:openai` from, at that cache and keep it
offline: they stand in for the network, not for anything the commands do.
"""

import json

import numpy as np
import pytest
import torch

from openvclip.data.videos import write_video
from openvclip.models import build_clip
from openvclip.weights import load_weights, save_weights
from tests.conftest import released_checkpoint
from tests.shell import shell, user_env

pytestmark = pytest.mark.e2e  # commands as a user types them, end to end

OPENAI_B16 = "models--timm--vit_base_patch16_clip_224.openai"


def moving_square(frames: int, shift: int) -> np.ndarray:
    video = np.zeros((frames, 96, 128, 3), dtype=np.uint8)
    for t in range(frames):
        x = (shift + 3 * t) % 100
        video[t, 30:60, x : x + 28] = (200, 60 + shift, 40)
    return video


def write_avi(path, frames: np.ndarray, fps: int = 8):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A user's folder with the files the README's commands name, and the environment to run them in."""
    from safetensors.torch import save_file

    home = tmp_path_factory.mktemp("user")
    write_video(home / "clip1.mp4", moving_square(40, 0))
    write_avi(home / "clip2.avi", moving_square(40, 20))
    write_video(home / "videos" / "juggling.mp4", moving_square(40, 40))
    (home / "labels.txt").write_text("ride a bike\nplay guitar\njuggling\nswimming\n")

    torch.manual_seed(0)
    clip = build_clip({"name": "ViT-B-16"})
    state = {k: v.detach().clone().contiguous() for k, v in clip.state_dict().items()}
    # open_clip's download of ViT-B-16:openai, already in the hub's cache.
    snapshot = home / "hub" / OPENAI_B16 / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / "open_clip_model.safetensors"))
    (home / "hub" / OPENAI_B16 / "refs").mkdir()
    (home / "hub" / OPENAI_B16 / "refs" / "main").write_text("0" * 40)
    # theta0 as `fetch_clip` writes it, and a trained vision tower (swa.safetensors) beside it.
    save_weights(state, home / "models" / "clip" / "theta0.safetensors")
    vision = {k: v + 0.01 * torch.randn_like(v) for k, v in state.items() if k.startswith("visual.")}
    save_weights(vision, home / "models" / "main" / "seed0" / "openvclip" / "swa.safetensors")
    # A released Open-VCLIP checkpoint (PySlowFast layout).
    with torch.no_grad():
        for name, p in clip.named_parameters():
            if name.startswith("visual."):
                p.add_(0.01 * torch.randn_like(p))
    released_checkpoint(home / "openvclip_b16.pth", clip)
    # Two small weight files for `openvclip interpolate`.
    save_weights({"w": torch.zeros(4)}, home / "clip.safetensors")
    save_weights({"w": torch.ones(4)}, home / "swa.safetensors")
    del clip, state, vision
    return home, user_env(HF_HUB_CACHE=str(home / "hub"), HF_HUB_OFFLINE="1")


def ranked(text: str, video: str) -> list:
    """The labels printed under ``video`` by classify's table."""
    lines = text.splitlines()
    start = lines.index(video)
    found = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        found.append(line.split(".", 1)[1].split(" p=")[0].strip())
    return found


def test_classify_with_open_clip_weights(home):
    cwd, env = home
    out = shell(
        cwd,
        'openvclip classify clip1.mp4 clip2.avi --labels "ride a bike,play guitar,juggling" --model ViT-B-16:openai',
        env=env,
    )
    for video in ("clip1.mp4", "clip2.avi"):
        assert sorted(ranked(out.stdout, video)) == ["juggling", "play guitar", "ride a bike"]


def test_a_released_checkpoint_imports_and_classifies(home):
    cwd, env = home
    out = shell(
        cwd,
        'openvclip import-released --model \'{"name": "ViT-B-16"}\' --checkpoint openvclip_b16.pth '
        "--out released.safetensors",
        env=env,
    )
    assert "--boundary zeros" in out.stdout
    weights = load_weights(cwd / "released.safetensors")
    assert weights and all(k.startswith("visual.") or k == "logit_scale" for k in weights)
    out = shell(
        cwd,
        "openvclip classify videos/*.mp4 --labels-file labels.txt --model ViT-B-16:openai \\\n"
        "    --checkpoint released.safetensors --boundary zeros",
        env=env,
    )
    assert len(ranked(out.stdout, "videos/juggling.mp4")) == 4


def test_classify_with_our_checkpoint_interpolated(home):
    cwd, env = home
    out = shell(
        cwd,
        "openvclip classify videos/*.mp4 --labels-file labels.txt --theta0 models/clip/theta0.safetensors "
        "\\\n    --model ViT-B-16 --checkpoint models/main/seed0/openvclip/swa.safetensors --ratio 0.5 "
        "--topk 3 --json",
        env=env,
    )
    result = json.loads(out.stdout)
    assert result["unreadable"] == {} and [r["video"] for r in result["results"]] == ["videos/juggling.mp4"]
    top = result["results"][0]["top"]
    assert len(top) == 3 and {t["label"] for t in top} <= {"ride a bike", "play guitar", "juggling", "swimming"}


def test_retrieve_ranks_a_folder_and_the_next_query_reuses_its_embeddings(home):
    cwd, env = home
    command = 'openvclip retrieve --videos videos/ --query "a person playing guitar" --query "a dog catching a frisbee"'
    first = shell(cwd, command, env=env)
    assert first.stdout.count("query: ") == 2 and "juggling.mp4" in first.stdout
    assert "1 encoded, 0 from" in first.stderr
    again = shell(
        cwd,
        'openvclip retrieve --videos videos/ --query "a person playing guitar" --query "a dog catching a frisbee"',
        env=env,
    )
    assert "0 encoded, 1 from" in again.stderr and again.stdout == first.stdout


def test_command_line_help_info_and_interpolate(home):
    cwd, env = home
    listed = shell(cwd, "openvclip --help", env=env).stdout
    for command in ("classify", "retrieve", "import-released", "train", "evaluate", "interpolate", "info"):
        assert command in listed
    assert "--train" in shell(cwd, "openvclip train --help", env=env).stdout
    assert shell(cwd, "python -m openvclip --help", env=env).stdout == listed
    info = json.loads(shell(cwd, "openvclip info", env=env).stdout)
    assert "torch" in json.dumps(info)
    shell(
        cwd,
        "openvclip interpolate --theta0 clip.safetensors --theta swa.safetensors --ratio 0.5 --out test.safetensors",
        env=env,
    )
    assert torch.equal(load_weights(cwd / "test.safetensors")["w"], torch.full((4,), 0.5))
