"""The training loop: learning, exact resume, checkpoints, logs, config errors."""

import csv
import logging
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from openvclip.errors import UserError
from openvclip.models import enable_temporal_attention, encode_video, video_logits, vision_parameters
from openvclip.train import TrainConfig, fit, latest_checkpoint, warmup_cosine, weight_decay_split
from openvclip.weights import load_weights, save_weights

from .conftest import MovingSquares, classifier_for, make_clip, train_config


class Crashing(Dataset):
    """Raises after ``after`` items, like a job killed mid-epoch."""

    def __init__(self, base, after):
        self.base, self.after, self.count = base, after, 0

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        self.count += 1
        if self.count > self.after:
            raise RuntimeError("simulated crash")
        return self.base[index]


def mean_loss(model, dataset, classifier, weights=None):
    videos = torch.stack([dataset[i][0] for i in range(len(dataset))])
    labels = torch.tensor([dataset[i][1] for i in range(len(dataset))])
    if weights is not None:
        weights = {k: v for k, v in weights.items()}
    with torch.no_grad():
        logits = video_logits(encode_video(model, videos, params=weights), classifier, model.logit_scale)
    return F.cross_entropy(logits, labels).item()


def test_openvclip_training_lowers_the_loss(tmp_path):
    model = enable_temporal_attention(make_clip())
    dataset, classifier = MovingSquares(size=48), classifier_for(model)
    before = mean_loss(model, dataset, classifier)
    result = fit(model, dataset, classifier, train_config(epochs=4), tmp_path, progress=False)
    after = mean_loss(model, dataset, classifier, load_weights(result["model"]))
    assert after < 0.7 * before, (before, after)
    rows = list(csv.DictReader(open(tmp_path / "train_log.csv")))
    assert len(rows) == 4 * 6 == result["steps"]
    alphas = [float(r["alpha"]) for r in rows]
    assert all(0.0 <= a <= 0.6 for a in alphas) and len(set(alphas)) == len(alphas)
    assert all(float(r["loss_interpolated"]) > 0 for r in rows)
    assert result["swa"].is_file()
    swa = load_weights(result["swa"])
    assert set(swa) == set(vision_parameters(model))


def test_resume_after_a_crash_gives_the_uninterrupted_weights(tmp_path):
    dataset = MovingSquares(size=24)
    cfg = train_config(epochs=3)
    straight = enable_temporal_attention(make_clip())
    reference = fit(straight, dataset, classifier_for(straight), cfg, tmp_path / "straight", progress=False)

    crashed = enable_temporal_attention(make_clip())
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(
            crashed,
            Crashing(dataset, after=2 * 24 + 5),
            classifier_for(crashed),
            cfg,
            tmp_path / "resumed",
            progress=False,
        )
    assert latest_checkpoint(tmp_path / "resumed").name == "epoch-0002"
    assert not (tmp_path / "resumed" / "model.safetensors").exists()

    fresh = enable_temporal_attention(make_clip())  # a new process: original weights, state from the checkpoint
    resumed = fit(fresh, dataset, classifier_for(fresh), cfg, tmp_path / "resumed", progress=False)
    assert resumed["steps"] == reference["steps"] == 9
    for name in ("model", "swa"):
        a, b = load_weights(reference[name]), load_weights(resumed[name])
        assert all(torch.equal(a[k], b[k]) for k in a), name
    logs = [
        [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(open(p / "train_log.csv"))]
        for p in (tmp_path / "straight", tmp_path / "resumed")
    ]
    assert logs[0] == logs[1]
    # keep_checkpoints=1: only the last complete checkpoint remains, no temporary directories.
    assert [p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()] == ["epoch-0003"]


def test_checkpoints_of_a_run_with_other_settings_are_not_resumed(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="openvclip.train")
    dataset = MovingSquares(size=16)
    model = enable_temporal_attention(make_clip())
    fit(model, dataset, classifier_for(model), train_config(epochs=2), tmp_path / "run", progress=False)
    # The same folder, a changed learning rate: resuming would report the old run's finished weights.
    changed = train_config(epochs=2, lr=5e-4)
    reference = enable_temporal_attention(make_clip())
    expected = fit(reference, dataset, classifier_for(reference), changed, tmp_path / "fresh", progress=False)
    again = enable_temporal_attention(make_clip())
    result = fit(again, dataset, classifier_for(again), changed, tmp_path / "run", progress=False)
    assert "other settings (lr)" in caplog.text
    caplog.clear()
    a, b = load_weights(expected["model"]), load_weights(result["model"])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(list(csv.DictReader(open(tmp_path / "run" / "train_log.csv")))) == result["steps"] == 4
    # Settings that do not change the trajectory (here: how many checkpoints to keep) still resume.
    kept = enable_temporal_attention(make_clip())
    resumed = fit(
        kept,
        dataset,
        classifier_for(kept),
        train_config(epochs=2, lr=5e-4, keep_checkpoints=2),
        tmp_path / "run",
        progress=False,
    )
    assert "other settings" not in caplog.text and resumed["steps"] == 4


def test_a_checkpoint_write_that_fails_half_way_leaves_the_previous_one_to_resume_from(tmp_path, monkeypatch, caplog):
    import errno

    caplog.set_level(logging.INFO, logger="openvclip.train")
    dataset, cfg = MovingSquares(size=16), train_config(epochs=2)
    straight = enable_temporal_attention(make_clip())
    reference = fit(straight, dataset, classifier_for(straight), cfg, tmp_path / "straight", progress=False)
    real_save = torch.save

    def disk_full(obj, path, *args, **kwargs):
        if "epoch-0002" in str(path):  # the second checkpoint's state: half written, then the disk is full
            Path(path).write_bytes(b"\x80\x02" * 64)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full)
    model = enable_temporal_attention(make_clip())
    with pytest.raises(OSError, match="No space left on device"):
        fit(model, dataset, classifier_for(model), cfg, tmp_path / "run", progress=False)
    monkeypatch.undo()
    assert not (tmp_path / "run" / "checkpoints" / "epoch-0002.tmp").exists()  # the half-written one is removed
    last = latest_checkpoint(tmp_path / "run")
    assert last.name == "epoch-0001" and torch.load(last / "state.pt", weights_only=True)["epoch"] == 1
    caplog.clear()
    again = enable_temporal_attention(make_clip())
    resumed = fit(again, dataset, classifier_for(again), cfg, tmp_path / "run", progress=False)
    assert f"resuming from checkpoint {last} (epoch 1," in caplog.text
    a, b = load_weights(reference["model"]), load_weights(resumed["model"])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["epoch-0002"]


def test_a_checkpoint_folder_still_under_its_temporary_name_is_not_resumed(tmp_path):
    for name in ("epoch-0001", "epoch-0002.tmp"):  # epoch 2: a run killed while writing it
        (tmp_path / "checkpoints" / name).mkdir(parents=True)
        (tmp_path / "checkpoints" / name / "state.pt").write_bytes(b"")
    assert latest_checkpoint(tmp_path).name == "epoch-0001"


def test_a_run_that_starts_over_first_removes_the_weights_of_an_earlier_run(tmp_path):
    out = tmp_path / "run"
    for name in ("model.safetensors", "swa.safetensors"):  # an earlier run's results, no checkpoint to resume
        save_weights({"stale": torch.zeros(1)}, out / name)
    model = enable_temporal_attention(make_clip())
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(
            model,
            Crashing(MovingSquares(size=16), after=3),
            classifier_for(model),
            train_config(epochs=2),
            out,
            progress=False,
        )
    assert not (out / "model.safetensors").exists() and not (out / "swa.safetensors").exists()


class RunsCodeWhenUnpickled:
    """What a tampered state file could hold: unpickling it calls ``marker.touch()``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_state_is_read_without_running_code(tmp_path):
    dataset = MovingSquares(size=8)
    model = enable_temporal_attention(make_clip())
    fit(model, dataset, classifier_for(model), train_config(epochs=1), tmp_path / "run", progress=False)
    state_file = latest_checkpoint(tmp_path / "run") / "state.pt"
    state = torch.load(state_file, weights_only=True)  # our own state: tensors and plain values only
    assert state["epoch"] == 1 and state["rng"]["numpy"][0] == "MT19937"
    marker = tmp_path / "code-ran"
    torch.save({**state, "fingerprint": RunsCodeWhenUnpickled(marker)}, state_file)
    (tmp_path / "run" / "model.safetensors").unlink()
    again = enable_temporal_attention(make_clip())
    with pytest.raises(pickle.UnpicklingError):
        fit(again, dataset, classifier_for(again), train_config(epochs=2), tmp_path / "run", progress=False)
    assert not marker.exists()


def test_finetune_has_no_interpolated_pass_and_frozen_keeps_theta0(tmp_path):
    model = make_clip()
    theta0 = {k: v.detach().clone() for k, v in vision_parameters(model).items()}
    result = fit(
        model,
        MovingSquares(size=16),
        classifier_for(model),
        train_config(objective="frozen"),
        tmp_path / "f",
        progress=False,
    )
    assert result["steps"] == 0 and all(torch.equal(v, theta0[k]) for k, v in load_weights(result["model"]).items())
    with pytest.raises(UserError, match="holds no SWA average: its training ran with SWA off"):
        load_weights(result["swa"])

    model = make_clip()
    result = fit(
        model,
        MovingSquares(size=16),
        classifier_for(model),
        train_config(objective="finetune", epochs=1),
        tmp_path / "ft",
        progress=False,
    )
    rows = list(csv.DictReader(open(tmp_path / "ft" / "train_log.csv")))
    assert all(r["alpha"] == "nan" for r in rows)
    # Every training writes swa.safetensors (the workflow declares it); without SWA it says so and holds nothing.
    with pytest.raises(UserError, match=r"ft/swa.safetensors holds no SWA average.*ft/model.safetensors"):
        load_weights(result["swa"])
    trained = load_weights(result["model"])
    assert any(not torch.equal(trained[k], theta0[k]) for k in theta0)
    # The text tower never trains.
    assert all(not p.requires_grad for n, p in model.named_parameters() if not n.startswith("visual."))


def test_warmup_then_cosine():
    values = [warmup_cosine(s, total=10, warmup=2, base=1.0, start=0.1, end=0.0) for s in range(11)]
    assert values[0] == pytest.approx(0.1) and values[1] == pytest.approx(0.55) and values[2] == pytest.approx(1.0)
    assert values[6] == pytest.approx(0.5) and values[10] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(values[2:], values[3:]))


def test_config_errors_name_key_and_allowed_values():
    with pytest.raises(UserError, match=r"unknown key\(s\) \['lamda'\] in config section 'train'"):
        TrainConfig.from_dict({"lamda": 0.5})
    with pytest.raises(UserError, match="'train.objective' = 'swa' is invalid; allowed: frozen | finetune"):
        TrainConfig.from_dict({"objective": "swa"})
    with pytest.raises(UserError, match="'train.epochs' must be int"):
        TrainConfig.from_dict({"epochs": "3"})
    with pytest.raises(ValueError, match="alpha_high"):
        TrainConfig.from_dict({"alpha_low": 0.5, "alpha_high": 0.2})
    assert TrainConfig.from_dict({"lr": 1}).lr == 1.0


def test_wrong_frame_count_in_data_is_named(tmp_path):
    model = make_clip()
    with pytest.raises(ValueError, match="has 4 frames, expected 8"):
        fit(model, MovingSquares(size=8), classifier_for(model), train_config(num_frames=8), tmp_path, progress=False)


def test_the_logit_scale_trains_only_when_asked_and_travels_with_the_weights(tmp_path):
    dataset = MovingSquares(size=24)
    on = enable_temporal_attention(make_clip())
    start = on.logit_scale.detach().clone()
    text_before = {k: v.detach().clone() for k, v in on.named_parameters() if not k.startswith("visual.")}
    result = fit(
        on, dataset, classifier_for(on), train_config(epochs=2, train_logit_scale=True), tmp_path / "on", progress=False
    )
    for name in ("model", "swa"):
        weights = load_weights(result[name])
        assert set(weights) == set(vision_parameters(on)) | {"logit_scale"}
    assert not torch.equal(load_weights(result["model"])["logit_scale"], start)
    # Evaluation interpolates them with theta0's tensors of the same names, logit scale included.
    from openvclip.models import tensors_of
    from openvclip.weights import interpolate

    fresh, trained = make_clip(), load_weights(result["swa"])
    mixed = interpolate(tensors_of(fresh, trained), trained, 0.5)
    assert torch.allclose(mixed["logit_scale"], 0.5 * (start + trained["logit_scale"]))
    with pytest.raises(ValueError, match="lacks"):
        tensors_of(fresh, {"visual.nope": torch.zeros(1)})
    assert all(torch.equal(v, dict(on.named_parameters())[k]) for k, v in text_before.items() if k != "logit_scale")
    off = enable_temporal_attention(make_clip())
    result = fit(off, dataset, classifier_for(off), train_config(epochs=2), tmp_path / "off", progress=False)
    assert "logit_scale" not in load_weights(result["model"]) and torch.equal(off.logit_scale.detach(), start)


def test_weight_decay_groups_are_the_released_ones():
    model = make_clip()
    params = {**vision_parameters(model), "logit_scale": model.logit_scale}
    decay, no_decay = weight_decay_split(params)
    assert {"visual.positional_embedding", "visual.proj", "visual.conv1.weight", "logit_scale"} <= set(decay)
    assert {"visual.class_embedding", "visual.ln_pre.weight", "visual.ln_pre.bias"} <= set(no_decay)
    assert all(k.endswith(".bias") or params[k].ndim == 1 for k in no_decay)
    assert sorted(decay + no_decay) == sorted(params)
