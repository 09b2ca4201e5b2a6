"""Template-averaged text classifiers and video logits."""

import pytest
import torch
import torch.nn.functional as F

from openvclip.models import PAPER_TEMPLATES, build_classifier, build_tokenizer, check_templates, video_logits

from .conftest import make_clip, tiny_config

CLASSES = ["archery", "riding a bike", "HandStand Pushups"]


def manual_classifier(model, tokenizer, classes, templates):
    columns = []
    with torch.no_grad():
        for name in classes:
            embeddings = F.normalize(model.encode_text(tokenizer([t.format(name) for t in templates])), dim=-1)
            columns.append(F.normalize(embeddings.mean(0), dim=0))
    return torch.stack(columns, dim=1)


def test_paper_templates():
    assert len(PAPER_TEMPLATES) == 28 and len(set(PAPER_TEMPLATES)) == 28
    assert "a photo of {}." in PAPER_TEMPLATES and "a demonstration of a person practicing {}." in PAPER_TEMPLATES
    assert all(t.count("{}") == 1 for t in PAPER_TEMPLATES)


@pytest.mark.parametrize("templates", [PAPER_TEMPLATES, ("{}",), ("a video of {}.", "{}")])
def test_classifier_is_renormalised_mean_of_normalised_template_embeddings(templates):
    model = make_clip()
    tokenizer = build_tokenizer({"config": tiny_config()})
    classifier = build_classifier(model, tokenizer, CLASSES, templates)
    expected = manual_classifier(model, tokenizer, CLASSES, templates)
    assert classifier.shape == (32, len(CLASSES))
    assert torch.allclose(classifier, expected, atol=1e-5)
    assert torch.allclose(classifier.norm(dim=0), torch.ones(len(CLASSES)), atol=1e-5)


def test_text_encoder_gets_no_gradient_and_keeps_mode():
    model = make_clip().train()
    classifier = build_classifier(model, build_tokenizer({"config": tiny_config()}), CLASSES, ("{}",))
    assert not classifier.requires_grad and model.training


@pytest.mark.parametrize("bad", [("a video of.",), ("{} and {}",), ("a {0} video {}",), (), "a video of {}"])
def test_bad_templates_raise(bad):
    with pytest.raises(ValueError, match="template"):
        check_templates(bad)


def test_missing_placeholder_is_named():
    with pytest.raises(ValueError, match=r"'a video of\.' must contain the class-name placeholder"):
        build_classifier(make_clip(), build_tokenizer({"config": tiny_config()}), CLASSES, ["a video of."])


def test_video_logits_average_frame_logits():
    frames = torch.randn(2, 4, 32)
    classifier = F.normalize(torch.randn(32, 5), dim=0)
    scale = torch.tensor(2.0)
    expected = torch.stack(
        [
            torch.stack([scale.exp() * F.normalize(frames[b, t], dim=0) @ classifier for t in range(4)]).mean(0)
            for b in range(2)
        ]
    )
    assert torch.allclose(video_logits(frames, classifier, scale), expected, atol=1e-5)
    with pytest.raises(ValueError, match="dim 32, the classifier expects 16"):
        video_logits(frames, torch.randn(16, 5), scale)
    with pytest.raises(ValueError, match=r"\(batch, frames, dim\)"):
        video_logits(frames[0], classifier, scale)
