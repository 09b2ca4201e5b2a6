"""The workflow's decisions (openvclip/plan/: what the config means, where files go, what jobs are told and ask
for) on the demo and paper configs, without running Snakemake."""

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from openvclip import paths
from openvclip.config import SCHEMA, config_hash, resolve_base, validate_config
from openvclip.errors import UserError
from openvclip.plan import JobArgs, JobResources, Layout, Plan, launcher, threads_per_process

ROOT = Path(__file__).resolve().parents[1]


def raw(name="config.yaml"):
    return resolve_base(yaml.safe_load((ROOT / name).read_text()), ROOT)


def plan(config=None, **changes):
    config = copy.deepcopy(config if config is not None else raw())
    for path, value in changes.items():
        node = config
        *parents, last = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    decisions = Plan(validate_config(config, ROOT / SCHEMA))
    return SimpleNamespace(
        plan=decisions, files=Layout(decisions), args=JobArgs(decisions), resources=JobResources(decisions)
    )


def test_each_variant_is_evaluated_with_the_weights_its_training_keeps():
    demo = plan()
    # Open-VCLIP keeps an SWA average (train.swa unset: on for openvclip only); plain fine-tuning does not.
    assert demo.files.weights_file("main", 0, "openvclip") == "models/main/seed0/openvclip/swa.safetensors"
    assert demo.files.weights_file("main", 0, "finetune") == "models/main/seed0/finetune/model.safetensors"
    # A variant evaluating another's weights reads that variant's folder.
    assert demo.files.weights_file("main", 0, "finetune_temporal_off") == "models/main/seed0/finetune/model.safetensors"
    with_swa = plan(train__swa=True)
    assert with_swa.files.weights_file("main", 0, "finetune") == "models/main/seed0/finetune/swa.safetensors"
    last = plan(variants__openvclip={"objective": "openvclip", "temporal": True, "weights": "last"})
    assert last.files.weights_file("main", 0, "openvclip") == "models/main/seed0/openvclip/model.safetensors"
    # Asking for an average the training lacks is refused with the config, naming the experiment.
    asks_swa = {"objective": "finetune", "temporal": True, "weights": "swa"}
    with pytest.raises(UserError, match="variants.finetune.weights is swa.*experiment main.*set train.swa: true"):
        plan(variants__finetune=asks_swa)
    # ... and allowed where every experiment running the variant keeps one.
    config = raw()
    config["experiments"]["main"]["train"] = config["experiments"]["ablation"]["train"] = {"swa": True}
    assert (
        plan(config, variants__finetune=asks_swa).files.weights_file("main", 0, "finetune").endswith("swa.safetensors")
    )


def test_an_experiment_with_models_from_reads_the_other_experiments_weights():
    config = raw()
    config["experiments"]["again"] = {"labels": "classname", "seeds": [0], "models_from": "main"}
    p = plan(config)
    assert p.files.weights_file("again", 0, "openvclip") == "models/main/seed0/openvclip/swa.safetensors"
    assert p.files.run_file("again", 0, "openvclip", "k400") == "results/runs/again/seed0/openvclip/k400.csv"


def test_training_settings_are_the_experiments_overrides_over_the_train_section():
    p = plan()
    settings = p.plan.train_settings("ablation", "3", "finetune_temporal_off")
    override = p.plan.config["experiments"]["ablation"]["train"]["epochs"]
    assert settings["epochs"] == override != p.plan.config["train"]["epochs"]  # the experiment's override
    assert settings["objective"] == "finetune"  # of the variant whose weights it evaluates
    assert settings["seed"] == 3 and isinstance(settings["seed"], int)
    # Keys the config leaves out come from the schema, not from a default in the plan.
    assert settings["keep_checkpoints"] == 1 and settings["swa"] is None
    assert p.plan.train_settings("ablation", "3", "openvclip")["lam"] == p.plan.config["train"]["lam"]


def test_a_trainings_settings_leave_out_what_its_objective_ignores_so_changing_them_retrains_nothing_else():
    """train.lam is Open-VCLIP's: changing it changes Open-VCLIP's settings (Snakemake's rerun trigger, and the
    DVC stage's params) and not plain fine-tuning's or FROSTER's; FROSTER's distillation keys are FROSTER's; SWA's
    schedule is read by a training that keeps an average only."""
    base = plan()

    def changed(**override):
        other = plan(**override)
        return {
            v
            for v in ("finetune", "openvclip", "froster")
            if other.plan.train_settings("main", 0, v) != base.plan.train_settings("main", 0, v)
        }

    assert changed(train__lam=0.3) == changed(train__alpha_high=0.4) == {"openvclip"}
    assert changed(train__distill_weight=1.0) == changed(train__train_text=False) == {"froster"}
    assert changed(train__swa_start_epoch=1) == {"openvclip", "froster"}  # plain fine-tuning keeps no average
    assert changed(train__lr=0.001) == {"finetune", "openvclip", "froster"}
    assert changed(train__swa_start_epoch=1, train__swa=True) == {"finetune", "openvclip", "froster"}
    assert "lam" not in base.plan.train_settings("main", 0, "finetune")
    # What a training is given validates on its own: the keys left out take TrainConfig's defaults, and one of
    # those (swa_start_epoch 2) must not be checked against a 1-epoch schedule that keeps no average.
    from openvclip.train.config import TrainConfig

    short = plan(train__epochs=1, train__warmup_epochs=0.5, train__swa_start_epoch=1)
    for v in ("frozen", "finetune", "openvclip", "froster"):
        TrainConfig.from_dict(short.plan.train_settings("main", 0, v)).validate()


def test_frozen_clip_is_scored_at_one_ratio_and_others_at_their_own_or_the_configs():
    p = plan()
    assert p.plan.ratios("frozen") == [1.0]
    assert p.plan.ratios("openvclip") == p.plan.config["eval"]["ratios"]
    assert p.plan.ratios("finetune_temporal_off") == [0.0]


def test_label_columns_follow_the_experiment_on_the_training_set_only():
    config = raw()
    config["experiments"]["actions"] = {"labels": "motion", "seeds": [0]}
    p = plan(config)
    assert p.plan.label_column("actions", "k400") == "motion"
    assert p.plan.label_column("main", "k400") == "classname"
    assert p.plan.label_column("actions", "ucf") == "classname"
    assert p.plan.label_column("main", "msrvtt") == "caption"
    assert p.files.text_file("actions", "k400") == "data/text/k400.motion.pt"


def test_frame_settings_of_synthetic_and_real_sets():
    demo = plan()
    assert demo.args.frame_settings("k400") == {"format": "raw", "size": 32, "num_frames": 8, "views": 1, "rate": 0}
    assert demo.resources.data_threads("k400") == 1
    paper = plan(raw("config/paper_vitb16.yaml"))
    ucf = paper.args.frame_settings("ucf")
    # The schema's defaults (JPEG, quality 90) under the config's own keys; the size is the model's input.
    assert ucf["format"] == "jpeg" and ucf["quality"] == 90 and ucf["size"] == 224 and ucf["num_frames"] == 8
    assert paper.resources.data_threads("ucf") == paper.plan.config["resources"]["threads"] == 8
    config = raw("config/paper_vitb16.yaml")
    config["datasets"]["ucf"]["frames"] = {"views": 1}
    assert plan(config).args.frame_settings("ucf") == {
        "format": "jpeg",
        "size": 224,
        "num_frames": 8,
        "views": 1,
        "rate": 16,
        "quality": 90,
        "sampling": "spread",
    }
    # A named model's input size is open_clip's for that model (ViT-L-14-336: 336), not a fixed 224.
    larger = plan(config, clip__model={"name": "ViT-L-14-336", "pretrained": "openai"})
    assert larger.args.frame_settings("ucf")["size"] == 336


def test_a_results_hash_covers_what_it_depends_on_and_not_the_reported_ratio():
    def hashed(p, variant="openvclip", ds="ucf"):
        return config_hash(p.args.result_hash_of("main", 0, variant, ds))

    base = hashed(plan())
    assert hashed(plan(eval__test_ratio=0.3)) == base  # picks a row of the report only
    assert hashed(plan(eval__ratios=[0.0, 1.0])) != base
    assert hashed(plan(train__lam=0.25)) != base
    assert hashed(plan(train__lam=0.25), "finetune") == hashed(plan(), "finetune")  # a key it ignores
    assert (
        hashed(
            plan(
                datasets__hmdb={
                    "source": "synthetic",
                    "objects": "hmdb",
                    "labels": "object_motion",
                    "protocol": "zeroshot",
                    "splits": {"test": 8},
                }
            )
        )
        == base
    )  # another set
    assert hashed(plan(), variant="finetune") != base
    # A key written out at its default value is the same config as one left out.
    assert hashed(plan(train__keep_checkpoints=1)) == base


def test_results_and_targets_follow_experiments_and_variants():
    p = plan()
    ablation = p.files.runs_of("ablation", 1)
    # 5 variants on the 4 sets, and the 2 without temporal attention on the closed set only (premise P4)
    assert len(ablation) == 5 * 4 + 2 and "results/runs/ablation/seed1/frozen/k600.csv" in ablation
    assert "results/runs/ablation/seed1/finetune_no_temporal/k400.csv" in ablation
    assert "results/runs/ablation/seed1/finetune_no_temporal/ucf.csv" not in ablation
    assert p.files.runs_of("main", 0, "msrvtt") == [
        p.files.run_file("main", 0, v, "msrvtt") for v in ("frozen", "finetune", "openvclip")
    ]
    targets = p.files.stage_targets()
    # A variant that evaluates another's weights trains nothing; one limited to k400 is scored there only.
    assert "models/main/seed0/finetune_temporal_off/model.safetensors" not in targets["train"]
    assert len(targets["train"]) == 4 and len(targets["evaluate"]) == 3 * 5 + 2
    assert (
        "results/retrieval_msrvtt.csv" in p.files.main_results()
        and "results/zeroshot_hmdb.csv" in p.files.main_results()
    )
    assert "results/closedset_k400.csv" in p.files.main_results()
    # A main experiment limited to some sets asks for their tables only (an empty table cannot be collected).
    limited = plan(experiments__main__datasets=["k400", "ucf"])
    assert [f for f in limited.files.main_results() if not f.startswith("results/sweep_")] == [
        "results/closedset_k400.csv",
        "results/zeroshot_ucf.csv",
    ]


def test_the_report_compares_the_configs_variants():
    p = plan()
    spec = p.args.report_spec(["a.csv"], "title")
    assert spec["trained_variants"] == ["finetune", "finetune_no_temporal", "openvclip", "finetune_temporal_off"]
    assert spec["zeroshot"] == ["ucf", "hmdb", "k600"] and spec["retrieval"] == ["msrvtt"]
    assert spec["method"] == "openvclip" and spec["test_ratio"] == 0.5 and spec["transfer_set"] == "ucf"
    study = p.args.report_spec([], "study", ["ablation"])
    # Open-VCLIP's last weights are a trained variant of their own: the ablation's row and a curve.
    assert set(study["variants"]) == {
        "frozen",
        "finetune",
        "finetune_no_temporal",
        "finetune_temporal_off",
        "openvclip",
        "openvclip_no_swa",
        "froster",
    }
    assert {"openvclip_no_swa", "froster"} <= set(study["trained_variants"]) and len(study["ablation"]) == 7
    epochs = p.plan.config["experiments"]["ablation"]["train"]["epochs"]
    assert f'`{{"epochs":{epochs}}}`' in study["experiments"]["ablation"]


def test_gpu_requests_only_when_the_config_asks_for_gpus():
    assert plan().resources.model_job(100, 5) == {"mem_mb": 100, "runtime": 5}
    gpus = plan(resources={"threads": 6, "gpus": 4})
    assert gpus.resources.model_job(100, 5) == {"mem_mb": 100, "runtime": 5, "gpu": 4, "cpus_per_gpu": 6}
    assert gpus.resources.train_gpus("frozen") == 0 and gpus.resources.train_gpus("openvclip") == 4
    assert launcher({"gpu": 4}) == "torchrun --standalone --nproc-per-node=4 -m openvclip"
    assert launcher({}) == launcher({"gpu": 1}) == "openvclip"
    assert threads_per_process(8, {"gpu": 4}) == 2 and threads_per_process(2, {"gpu": 4}) == 1


def test_k600_novel_splits_are_scored_over_their_own_classes():
    paper = plan(raw("config/paper_vitb16.yaml"))
    k600 = next(d for d, s in paper.plan.datasets.items() if s.get("format") == "kinetics600_novel")
    item = paper.args.eval_set("main", k600, "f", "m", "t")
    assert item["split_classes_from"] == paper.plan.datasets[k600] and item["protocol"] == "zeroshot"
    assert item["max_unreadable"] == 0.05
    assert "split_classes_from" not in paper.args.eval_set("main", "ucf", "f", "m", "t")


def test_only_variants_that_use_descriptions_read_them_and_froster_keeps_an_swa_average():
    demo = plan()
    # FROSTER reads the descriptions text on every set that has descriptions; retrieval stays on captions.
    assert demo.files.text_file("ablation", "k400", "froster") == "data/text/k400.classname.descriptions.pt"
    assert demo.files.text_file("ablation", "ucf", "froster") == "data/text/ucf.classname.descriptions.pt"
    assert demo.files.text_file("ablation", "msrvtt", "froster") == "data/text/msrvtt.caption.pt"
    # The other variants keep the class names, on the same sets.
    assert demo.files.text_file("ablation", "k400", "openvclip") == "data/text/k400.classname.pt"
    # A set without descriptions gives the names to FROSTER too.
    bare = plan(datasets__ucf={k: v for k, v in raw()["datasets"]["ucf"].items() if k != "descriptions"})
    assert bare.files.text_file("ablation", "ucf", "froster") == "data/text/ucf.classname.pt"
    # A weights_of variant reads what its source trained with unless it says otherwise.
    borrowed = plan(variants__froster_no_swa={"weights_of": "froster", "weights": "last", "temporal": True})
    assert borrowed.plan.uses_descriptions("froster_no_swa", "ucf")
    assert demo.files.weights_file("ablation", 0, "froster") == "models/ablation/seed0/froster/swa.safetensors"
    froster = plan(config=raw("config/froster_vitb16.yaml"))
    assert froster.plan.description_aliases("k400")["driving car"] == "Driving a car"
    assert froster.plan.description_aliases("ucf") == {}
    targets = froster.files.stage_targets()
    assert (
        "data/descriptions/k600" in targets["downloads"]
        and "data/text/k600.classname.descriptions.pt" in targets["text"]
    )
    assert "data/text/k600.classname.pt" in targets["text"]  # frozen CLIP's, from the names


def test_only_sets_fetched_from_url_lists_are_prepared_in_shards():
    paper = plan(raw("config/paper_vitb16.yaml"))
    assert [ds for ds in paper.plan.datasets if paper.plan.is_sharded(ds)] == ["k400", "k600"]
    assert not any(plan().plan.is_sharded(ds) for ds in plan().plan.datasets)  # the demo: one job per stage
    assert paper.plan.config["shards"] == {"archives_per_job": 12, "downloads_at_once": 4}
    assert paper.files.shard_files(paths.FETCHED_SHARD, "k400", 3) == [
        "data/shards/k400/fetched/0.json",
        "data/shards/k400/fetched/1.json",
        "data/shards/k400/fetched/2.json",
    ]
    assert paper.files.shard_files(paths.TRAIN_INDEX_PART, "k400", 1) == []  # one shard: the single job
    # A local copy of the videos is not sharded, even where the other role is a URL list.
    config = raw("config/paper_vitb16.yaml")
    config["datasets"]["k600"]["files"]["videos_val"] = [{"path": "/data/k600/val"}]
    assert not plan(config).plan.is_sharded("k600")
