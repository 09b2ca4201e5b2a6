"""What `fit` does, step by step, against references computed here from its inputs: the interpolated objective's
losses and update, SWA's average of the due epochs, the logged learning rate, FROSTER's weighted sum, and the
scaled (mixed-precision) backward. Each test fails on a plausible wiring bug (named in its docstring)."""

import csv
import math

import pytest
import torch
import torch.nn.functional as F

from openvclip.models import enable_temporal_attention, encode_video, video_logits
from openvclip.train import fit, warmup_cosine, weight_decay_split
from openvclip.train import loop as loop_module
from openvclip.weights import load_weights

from .conftest import MovingSquares, classifier_for, make_clip, train_config

VIDEOS = 8  # one batch of the whole set: a step's loss is the set's mean, whatever order the loader draws


def log_rows(out_dir):
    return list(csv.DictReader(open(out_dir / "train_log.csv")))


def vision_weights(model):
    return {k: p.detach().clone() for k, p in model.named_parameters() if k.startswith("visual.")}


def set_loss(model, dataset, classifier, weights):
    """The mean cross-entropy of the whole set at ``weights`` (CLIP's logit scale frozen), differentiable."""
    video = torch.stack([dataset[i][0] for i in range(len(dataset))])
    labels = torch.tensor([dataset[i][1] for i in range(len(dataset))])
    logits = video_logits(encode_video(model, video, params=weights), classifier, model.logit_scale.detach())
    return F.cross_entropy(logits, labels)


def gradient_at(model, dataset, classifier, weights):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in weights.items()}
    loss = set_loss(model, dataset, classifier, leaves)
    loss.backward()
    return loss.item(), {k: v.grad for k, v in leaves.items()}


def two_steps(tmp_path, **overrides):
    """Two epochs of one step each; every checkpoint kept. Returns (model, dataset, classifier, theta0, cfg)."""
    model = enable_temporal_attention(make_clip())
    dataset, classifier = MovingSquares(size=VIDEOS), classifier_for(model)
    theta0 = vision_weights(model)
    cfg = train_config(epochs=2, batch_size=VIDEOS, keep_checkpoints=2, warmup_epochs=0.0, **overrides)
    fit(model, dataset, classifier, cfg, tmp_path, progress=False)
    return model, dataset, classifier, theta0, cfg


@pytest.mark.parametrize("gradient,lam", [("official", 0.5), ("paper", 0.5), ("official", 0.2)])
def test_an_openvclip_step_is_the_interpolated_objective_toward_the_starting_weights(tmp_path, gradient, lam):
    """Step 2 (at w1, the weights after step 1): the logged losses are the set's loss at w1 and at
    alpha*theta0 + (1-alpha)*w1 with theta0 the weights training started from, and the update is AdamW's on
    grad L(w1) + lam * c * grad L(theta_alpha), clipped, with c = 1 (official) or 1 - alpha (paper). Fails if
    theta0 aliases the live weights, if the two gradients swap definitions, or if lam is dropped."""
    model, dataset, classifier, theta0, cfg = two_steps(tmp_path, gradient=gradient, lam=lam, clip_grad_norm=1.0)
    row = log_rows(tmp_path)[1]
    alpha, lr = float(row["alpha"]), float(row["lr"])
    w1 = load_weights(tmp_path / "checkpoints" / "epoch-0001" / "model.safetensors")
    w2 = load_weights(tmp_path / "checkpoints" / "epoch-0002" / "model.safetensors")
    theta_alpha = {k: alpha * theta0[k] + (1 - alpha) * w1[k] for k in w1}

    loss, g_theta = gradient_at(model, dataset, classifier, w1)
    loss_alpha, g_alpha = gradient_at(model, dataset, classifier, theta_alpha)
    assert float(row["loss"]) == pytest.approx(loss, abs=1e-5)
    assert float(row["loss_interpolated"]) == pytest.approx(loss_alpha, abs=1e-5)
    assert abs(loss_alpha - loss) > 1e-3  # the two points really differ after one step

    factor = 1.0 if gradient == "official" else 1.0 - alpha
    grads = {k: g_theta[k] + lam * factor * g_alpha[k] for k in w1}
    norm = torch.sqrt(sum((g**2).sum() for g in grads.values()))
    assert float(row["grad_norm"]) == pytest.approx(norm.item(), rel=1e-4)
    clip = min(1.0, cfg.clip_grad_norm / (norm.item() + 1e-6))

    # AdamW from the optimizer state checkpoint 1 saved, with the step's learning rate.
    params = {k: w1[k].clone().requires_grad_(True) for k in theta0}  # fit's order: the model's parameters'
    decay, no_decay = weight_decay_split(params)
    optimizer = torch.optim.AdamW(
        [
            {"params": [params[k] for k in decay], "weight_decay": cfg.weight_decay},
            {"params": [params[k] for k in no_decay], "weight_decay": 0.0},
        ],
        lr=lr,
    )
    optimizer.load_state_dict(torch.load(tmp_path / "checkpoints" / "epoch-0001" / "state.pt")["optimizer"])
    for group in optimizer.param_groups:
        group["lr"] = lr
    for k, p in params.items():
        p.grad = grads[k] * clip
    optimizer.step()
    # Float noise is ~4e-6 of a step that moves weights by up to 1e-3 (AdamW's size, lr); the other gradient
    # definition misses by 1.5e-3.
    assert max((params[k].detach() - w2[k]).abs().max().item() for k in w2) < 2e-5


def test_the_swa_file_is_the_mean_of_the_due_epochs_and_the_lr_follows_warmup_cosine(tmp_path):
    """swa_start_epoch 2, swa_every 2 over 5 epochs: the average of the weights after epochs 2 and 4 exactly.
    Fails if an epoch is added too early, too late or twice; the logged rate is warmup_cosine at each step
    (fails if the schedule is stepped before the step or counted in epochs)."""
    model = enable_temporal_attention(make_clip())
    dataset = MovingSquares(size=16)
    cfg = train_config(epochs=5, batch_size=8, keep_checkpoints=5, swa_start_epoch=2, swa_every=2)
    result = fit(model, dataset, classifier_for(model), cfg, tmp_path, progress=False)
    epoch = {e: load_weights(tmp_path / "checkpoints" / f"epoch-{e:04d}" / "model.safetensors") for e in range(1, 6)}
    swa = load_weights(result["swa"])
    assert set(swa) == set(epoch[2])
    for k in swa:
        assert torch.allclose(swa[k], (epoch[2][k] + epoch[4][k]) / 2, atol=1e-7), k
    assert not torch.allclose(epoch[2]["visual.conv1.weight"], epoch[4]["visual.conv1.weight"])

    rows = log_rows(tmp_path)
    total, warmup = 5 * 2, round(cfg.warmup_epochs * 2)
    expected = [warmup_cosine(s, total, warmup, cfg.lr, cfg.warmup_start_lr, cfg.end_lr) for s in range(total)]
    assert [float(r["lr"]) for r in rows] == pytest.approx(expected, rel=1e-5)


def froster_run(tmp_path, weight):
    student, teacher = enable_temporal_attention(make_clip()), make_clip()
    cfg = train_config(
        objective="froster", swa=False, epochs=2, batch_size=VIDEOS, distill_weight=weight, keep_checkpoints=2
    )
    dataset = MovingSquares(size=VIDEOS)
    fit(student, dataset, classifier_for(student), cfg, tmp_path, progress=False, teacher=teacher)
    return [load_weights(tmp_path / "checkpoints" / f"epoch-{e:04d}" / "model.safetensors") for e in (1, 2)]


def test_froster_adds_the_weighted_distillation_and_trains_its_heads(tmp_path):
    """The batch loss fit minimises is CE + distill_weight * distillation (at weight 2.0); its residual heads
    train; weights 2 and 0 give different weights. Fails if the term is dropped from the sum or the heads are
    left out of the optimizer."""
    from openvclip.train.distill import DistillHeads, froster_batch_loss

    student, teacher = enable_temporal_attention(make_clip()), make_clip()
    dataset = MovingSquares(size=VIDEOS)
    video = torch.stack([dataset[i][0] for i in range(VIDEOS)])
    labels = torch.tensor([dataset[i][1] for i in range(VIDEOS)])
    cfg = train_config(objective="froster", distill_weight=2.0)
    heads = DistillHeads(32, cfg.distill_residual)
    with torch.no_grad():  # heads away from the identity, so the distance is not zero
        for p in heads.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(5)))
    batch = froster_batch_loss(
        student, teacher, heads, classifier_for(student), None, cfg, torch.no_grad, 0, video, labels, VIDEOS, VIDEOS
    )
    total = batch(vision_weights(student))
    assert batch.parts["loss_distill"].item() > 1e-4
    assert total.item() == pytest.approx(batch.parts["loss"].item() + 2.0 * batch.parts["loss_distill"].item())

    two, zero = froster_run(tmp_path / "w2", 2.0), froster_run(tmp_path / "w0", 0.0)
    heads_after = {k: v for k, v in two[1].items() if k.startswith("distill.")}
    assert heads_after and any(not torch.equal(two[0][k], v) for k, v in heads_after.items())
    visual = [k for k in two[1] if k.startswith("visual.")]
    assert max((two[1][k] - zero[1][k]).abs().max().item() for k in visual) > 1e-6


def test_a_scaled_backward_updates_as_the_unscaled_one(tmp_path, monkeypatch):
    """The fp16 path's gradient scaling (torch's CPU GradScaler, no autocast, so only the scaling differs): both
    of Open-VCLIP's passes are scaled and unscaled, so the weights equal the unscaled run's. Fails if the
    interpolated pass's loss is not scaled (its gradient would shrink by the scale, 2**16)."""
    model = enable_temporal_attention(make_clip())
    dataset = MovingSquares(size=16)
    cfg = train_config(epochs=2, batch_size=8)
    plain = fit(model, dataset, classifier_for(model), cfg, tmp_path / "plain", progress=False)

    scalers = []

    def scaled(cfg, device):
        from contextlib import nullcontext

        scalers.append(torch.amp.GradScaler("cpu", init_scale=2.0**16))
        return nullcontext, scalers[-1]

    monkeypatch.setattr(loop_module, "autocast_and_scaler", scaled)
    model = enable_temporal_attention(make_clip())
    fp16 = fit(model, dataset, classifier_for(model), cfg, tmp_path / "scaled", progress=False)
    assert scalers and scalers[0].get_scale() >= 2.0**16  # no step skipped (a skipped step halves the scale)
    a, b = load_weights(plain["model"]), load_weights(fp16["model"])
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert not math.isnan(float(log_rows(tmp_path / "scaled")[-1]["loss_interpolated"]))


def test_an_empty_training_split_is_refused_naming_the_manifest(tmp_path):
    from openvclip.data.manifest import write_lines, write_manifest
    from openvclip.data.train_videos import INDEX_COLUMNS
    from openvclip.errors import UserError
    from openvclip.io import write_csv
    from openvclip.train.jobs import training_clips

    manifest, index = tmp_path / "k400.csv", tmp_path / "index.csv"
    write_manifest(manifest, [{"path": "a.mp4", "label": 0, "classname": "run", "split": "val"}])
    write_lines(manifest.with_suffix(".classes.txt"), ["run"])
    write_csv(index, [], INDEX_COLUMNS)
    with pytest.raises(UserError, match=rf"training set is empty: manifest {manifest} has no rows of split 'train'"):
        training_clips(index, manifest, "classname", train_config())


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "the training set is empty"),
        ("theta0", r"theta0 and the trained weights differ in \['visual.extra'\]: theta0 must hold exactly"),
        ("fp16", r"train.amp='fp16' needs a CUDA device; on cpu use amp: off \(or auto\)"),
    ],
)
def test_fit_refuses_bad_inputs_by_name_and_writes_no_weights(tmp_path, case, message):
    from openvclip.errors import UserError

    model = enable_temporal_attention(make_clip())
    dataset = MovingSquares(size=0 if case == "empty" else 8)
    theta0 = {**vision_weights(model), "visual.extra": torch.zeros(1)} if case == "theta0" else None
    cfg = train_config(epochs=1, amp="fp16" if case == "fp16" else "auto")
    with pytest.raises(UserError, match=message):
        fit(model, dataset, classifier_for(model), cfg, tmp_path, progress=False, theta0=theta0)
    assert not any(tmp_path.rglob("*.safetensors")) and not (tmp_path / "train_log.csv").exists()


@pytest.mark.parametrize("objective", ["finetune", "openvclip", "froster"])
def test_the_keys_a_trainings_settings_leave_out_change_nothing_it_trains(tmp_path, objective):
    """Plan.train_settings leaves out the `train:` keys an objective ignores (openvclip.config.ignored_train_keys),
    so changing one reruns no training of that objective. Two trainings, the second with every such key changed,
    end at the same weights and log. Fails if an objective reads a key the list calls ignored."""
    from openvclip.config import ignored_train_keys

    other_values = dict(
        alpha_low=0.2,
        alpha_high=0.3,
        lam=3.0,
        gradient="official",
        distill_weight=0.5,
        distill_residual=0.4,
        distill_distance="l2",
        train_text=True,
        swa_start_epoch=2,
        swa_every=2,
    )
    ignored = ignored_train_keys(objective, None)
    assert ignored and set(ignored) <= set(other_values)

    def trained(out, **changes):
        student = enable_temporal_attention(make_clip())
        teacher = make_clip() if objective == "froster" else None
        cfg = train_config(objective=objective, epochs=2, batch_size=VIDEOS // 2, **changes)
        fit(student, MovingSquares(size=VIDEOS), classifier_for(student), cfg, out, progress=False, teacher=teacher)
        rows = [{k: v for k, v in r.items() if k != "seconds"} for r in log_rows(out)]
        return load_weights(out / "model.safetensors"), rows

    weights, log = trained(tmp_path / "base")
    other_weights, other_log = trained(tmp_path / "other", **{k: other_values[k] for k in ignored})
    assert other_log == log
    assert set(other_weights) == set(weights) and all(torch.equal(other_weights[k], weights[k]) for k in weights)
