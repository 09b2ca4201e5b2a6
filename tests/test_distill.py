"""FROSTER's residual feature distillation: the heads, the loss and its gradient by hand, the frozen teacher, the
objective inside the training loop (zero weight = fine-tuning; the text tower trains; heads never saved)."""

import csv
import math

import numpy as np
import pytest
import torch

from openvclip.models import build_tokenizer, enable_temporal_attention, text_parameters, vision_parameters
from openvclip.models.descriptions import ClassText
from openvclip.train import fit
from openvclip.train.distill import (
    DistillHeads,
    StepText,
    teacher_frame_features,
    text_distance,
    video_distances,
)
from openvclip.weights import load_weights

from .conftest import FRAMES, MovingSquares, classifier_for, make_clip, tiny_config, train_config


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def test_the_heads_start_as_the_identity_with_the_released_layers():
    torch.manual_seed(0)
    heads = DistillHeads(8, residual=0.1)
    for head in (heads.video, heads.text):
        first, act, second = head
        assert first.bias is None and second.bias is None and isinstance(act, torch.nn.GELU)
        assert act.approximate == "none"  # exact GELU, as nn.GELU() in the release
        assert torch.count_nonzero(second.weight) == 0 and torch.count_nonzero(first.weight) == 64
    x = torch.randn(5, 8)
    assert torch.equal(heads.project("video", x), x) and torch.equal(heads.project("text", x), x)


@pytest.mark.parametrize("distance", ["cosine", "l2"])
def test_the_video_distance_and_its_gradient_match_a_hand_computation(distance):
    """Two frames, D=3, hand-set heads: the value; and at the released initialisation (second layer zero) the
    gradients, where the first layer gets none and the second gets residual * dd/dp (x) gelu(W1 n)."""
    rng = np.random.default_rng(0)
    student = rng.normal(size=(1, 2, 3))  # one video of two frames, raw (not normalised) embeddings
    teacher = rng.normal(size=(2, 3))
    teacher /= np.linalg.norm(teacher, axis=1, keepdims=True)
    w1 = rng.normal(size=(3, 3))
    heads = DistillHeads(3, residual=0.1).double()
    with torch.no_grad():
        heads.video[0].weight.copy_(torch.from_numpy(w1))

    # By hand: n = s/|s|, p = n + 0.1 * W2 gelu(W1 n) = n (W2 = 0), d = mean over frames of dist(p, t).
    n = student[0] / np.linalg.norm(student[0], axis=1, keepdims=True)
    p = n.copy()
    if distance == "cosine":
        cos = (p * teacher).sum(1) / (np.linalg.norm(p, axis=1) * np.linalg.norm(teacher, axis=1))
        value = np.mean(1 - cos)
        norm_p = np.linalg.norm(p, axis=1, keepdims=True)
        # d(1 - cos)/dp = -(t / (|p||t|) - (p.t) p / (|p|^3 |t|)), |t| = 1
        grad_p = -(teacher / norm_p - (p * teacher).sum(1, keepdims=True) * p / norm_p**3) / 2
    else:
        diff = p - teacher
        value = np.mean(np.linalg.norm(diff, axis=1))
        grad_p = diff / np.linalg.norm(diff, axis=1, keepdims=True) / 2
    hidden = gelu(n @ w1.T)  # (frames, 3)
    grad_w2 = 0.1 * grad_p.T @ hidden

    got = video_distances(heads, torch.from_numpy(student), torch.from_numpy(teacher), distance)
    assert got.shape == (1,) and got.item() == pytest.approx(value, rel=1e-10)
    got.sum().backward()
    assert torch.count_nonzero(heads.video[0].weight.grad) == 0
    np.testing.assert_allclose(heads.video[2].weight.grad.numpy(), grad_w2, rtol=1e-9, atol=1e-12)

    # With a non-zero second layer the value follows p = n + 0.1 W2 gelu(W1 n).
    w2 = rng.normal(size=(3, 3))
    with torch.no_grad():
        heads.video[2].weight.copy_(torch.from_numpy(w2))
    p = n + 0.1 * gelu(n @ w1.T) @ w2.T
    if distance == "cosine":
        expected = np.mean(1 - (p * teacher).sum(1) / np.linalg.norm(p, axis=1))
    else:
        expected = np.mean(np.linalg.norm(p - teacher, axis=1))
    got = video_distances(heads, torch.from_numpy(student), torch.from_numpy(teacher), distance)
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_the_text_distance_is_over_classes():
    heads = DistillHeads(4).double()
    student = torch.nn.functional.normalize(torch.randn(3, 4, dtype=torch.float64), dim=1)  # (C, D)
    teacher = torch.nn.functional.normalize(torch.randn(3, 4, dtype=torch.float64), dim=1)
    expected = (1 - (student * teacher).sum(1)).mean()  # heads are the identity at the start
    assert text_distance(heads, student.T, teacher.T).item() == pytest.approx(expected.item(), rel=1e-10)


def test_the_teacher_runs_without_gradients_and_keeps_no_activations():
    teacher = make_clip(seed=1)
    video = torch.randn(2, FRAMES, 3, 32, 32, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        features = teacher_frame_features(teacher.train(), video)
    assert saved == []  # nothing kept for a backward pass
    assert not features.requires_grad and features.grad_fn is None
    assert features.shape == (2 * FRAMES, 32)
    assert torch.allclose(features.norm(dim=-1), torch.ones(2 * FRAMES))
    assert teacher.training  # its mode is put back


def froster_config(**overrides):
    return train_config(**{"objective": "froster", "swa": False, "epochs": 2, **overrides})


def test_with_zero_distillation_weight_froster_trains_as_finetuning(tmp_path):
    dataset = MovingSquares(size=8)
    plain = enable_temporal_attention(make_clip())
    reference = fit(
        plain,
        dataset,
        classifier_for(plain),
        train_config(objective="finetune", epochs=2),
        tmp_path / "ft",
        progress=False,
    )
    student, teacher = enable_temporal_attention(make_clip()), make_clip()
    result = fit(
        student,
        dataset,
        classifier_for(student),
        froster_config(distill_weight=0.0),
        tmp_path / "froster",
        progress=False,
        teacher=teacher,
    )
    a, b = load_weights(reference["model"]), load_weights(result["model"])
    assert set(a) == set(b) == set(vision_parameters(plain))  # the heads are not in the weights file
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    rows = list(csv.DictReader(open(tmp_path / "froster" / "train_log.csv")))
    ft_rows = list(csv.DictReader(open(tmp_path / "ft" / "train_log.csv")))
    assert [float(r["loss"]) for r in rows] == pytest.approx([float(r["loss"]) for r in ft_rows], abs=1e-5)
    assert all(float(r["loss_distill"]) > 0 for r in rows)  # measured, though weighted by zero


def test_froster_trains_the_text_tower_and_never_the_teacher(tmp_path):
    dataset = MovingSquares(size=8)
    student, teacher = enable_temporal_attention(make_clip()), make_clip()
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    text_before = {k: v.detach().clone() for k, v in text_parameters(student).items()}
    texts = [ClassText(name, ("it moves.",)) for name in ("sideways", "up and down", "still")]
    step_text = StepText(texts, ["a video of {}.", "{}"], build_tokenizer({"config": tiny_config()}))
    result = fit(
        student,
        dataset,
        classifier_for(student),
        froster_config(train_text=True, swa=True),
        tmp_path,
        progress=False,
        teacher=teacher,
        step_text=step_text,
    )
    weights = load_weights(result["model"])
    assert set(weights) == set(vision_parameters(student)) | set(text_before)
    assert not any(k.startswith("distill.") for k in load_weights(result["swa"]))
    assert any(not torch.equal(weights[k], text_before[k]) for k in text_before)  # the text tower moved
    assert all(torch.equal(v, teacher_before[k]) for k, v in teacher.state_dict().items())
    assert all(p.grad is None for p in teacher.parameters())
    rows = list(csv.DictReader(open(tmp_path / "train_log.csv")))
    assert all(float(r["loss_distill"]) > 0 for r in rows)


def test_the_step_prompts_are_drawn_by_seed_and_step():
    texts = [ClassText("a", ()), ClassText("b", ("B.",))]
    step_text = StepText(texts, ["x {}", "y {}", "z {}"], tokenizer=None)
    draws = {tuple(step_text.prompts(0, step)[0]) for step in range(30)}
    assert draws == {("x a",), ("y a",), ("z a",)}  # every template gets drawn
    assert step_text.prompts(0, 7) == step_text.prompts(0, 7)
    first = step_text.prompts(0, 7)
    assert first[1] == [first[0][0].replace(" a", " b") + " B.", "B."]  # one template for every class


def test_a_steps_tokens_are_its_prompts_tokenized_once_per_template():
    """fit embeds each step's text from cached tokens: they must be exactly the step's prompts, tokenized, and
    embed to what the prompts embed to."""
    from openvclip.models import encode_class_prompts, encode_class_tokens

    tokenizer = build_tokenizer({"config": tiny_config()})
    calls = []

    def counting(texts):
        calls.append(list(texts))
        return tokenizer(texts)

    texts = [ClassText("a", ()), ClassText("b", ("B one.", "B two."))]
    step_text = StepText(texts, ["x {}", "y {}"], tokenizer=counting)
    model = make_clip().eval()
    for step in range(12):
        tokens, counts = step_text.tokens(3, step)
        prompts = step_text.prompts(3, step)
        assert torch.equal(tokens, tokenizer([p for ps in prompts for p in ps]))
        assert counts.tolist() == [len(ps) for ps in prompts] == [1, 4]
        with torch.no_grad():
            torch.testing.assert_close(
                encode_class_tokens(model, tokens, counts), encode_class_prompts(model, tokenizer, prompts)
            )
    assert len(calls) == 2  # once for each template drawn, whatever the number of steps


def test_froster_without_a_teacher_is_refused(tmp_path):
    model = enable_temporal_attention(make_clip())
    with pytest.raises(ValueError, match="teacher"):
        fit(model, MovingSquares(size=8), classifier_for(model), froster_config(), tmp_path, progress=False)
