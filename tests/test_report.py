"""Metrics and the summary's comparisons: retrieval ranks, curve envelopes, validation-only ratio choice."""

import json

import numpy as np
import pytest

from openvclip.eval.metrics import retrieval_metrics, topk_accuracy
from openvclip.report.curves import chosen_ratio, compare_curves, envelope
from openvclip.report.summary import write_report
from openvclip.report.tables import collect, value
from openvclip.results import read_rows, write_rows


def test_topk_accuracy():
    scores = np.array([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.5, 0.3, 0.2]])
    labels = np.array([0, 1, 1])
    assert topk_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(scores, labels, 2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="matching 2 labels"):
        topk_accuracy(scores, labels[:2], 1)


def test_retrieval_metrics_ranks():
    similarity = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.1], [0.0, 0.5, 0.4]])
    m = retrieval_metrics(similarity)
    # text ranks 1, 2, 2 -> R@1 = 1/3, median 2; video ranks (columns) 1, 2, 1 -> R@1 = 2/3
    assert m["t2v_r1"] == pytest.approx(100 / 3) and m["t2v_medr"] == 2 and m["t2v_r5"] == 100
    assert m["v2t_r1"] == pytest.approx(200 / 3) and m["v2t_medr"] == 1
    with pytest.raises(ValueError, match="square"):
        retrieval_metrics(np.zeros((2, 3)))


def test_envelope_and_common_range_comparison():
    low = [(0.0, 60.0, 10.0), (0.5, 40.0, 40.0), (1.0, 10.0, 70.0)]
    high = [(0.0, 60.0, 20.0), (0.5, 45.0, 50.0), (1.0, 10.0, 70.0)]
    assert envelope(low, 50.0) == 10.0 and envelope(low, 30.0) == 40.0
    lo, hi, means = compare_curves({"finetune": low, "openvclip": high})
    assert (lo, hi) == (10.0, 60.0)
    assert means["openvclip"] > means["finetune"]


def rows_for(values):
    return [
        {"variant": "v", "ratio": r, "dataset": d, "split": s, "metric": "top1", "value": x}
        for (r, d, s), x in values.items()
    ]


def test_ratio_is_chosen_on_validation_splits_only():
    values = {}
    for r, (val_score, test_score) in {0.0: (30, 90), 0.5: (60, 10), 1.0: (20, 95)}.items():
        for d in ("motion", "appearance"):
            values[(r, d, "val")] = val_score
            values[(r, d, "test")] = test_score
    assert chosen_ratio(rows_for(values), "v", "motion", ["appearance"]) == 0.5


def test_collect_adds_columns_and_value_finds_rows(tmp_path):
    columns = ["variant", "ratio", "dataset", "split", "metric", "value", "n_videos", "n_classes", "config_hash"]
    row = {
        "variant": "a",
        "ratio": 0.5,
        "dataset": "d",
        "split": "test",
        "metric": "top1",
        "value": 12.5,
        "n_videos": 4,
        "n_classes": 2,
        "config_hash": "h",
    }
    write_rows(tmp_path / "1.csv", [row], columns)
    write_rows(tmp_path / "2.csv", [{**row, "value": 20.0}], columns)
    collect([tmp_path / "1.csv", tmp_path / "2.csv"], tmp_path / "all.csv", [{"seed": 0}, {"seed": 1}])
    rows = read_rows(tmp_path / "all.csv")
    assert [r["seed"] for r in rows] == ["0", "1"]
    assert value(rows, seed=1, ratio=0.50) == 20.0 and value(rows, seed=2) is None
    with pytest.raises(ValueError, match="2 rows match"):
        value(rows, variant="a")


def test_paper_style_results_report_split_means_with_std_and_no_ratio_choice(tmp_path):
    """Real protocols: K400 closed-set on its val split, HMDB51 on 3 numbered test splits (mean ± std rows),
    MSR-VTT on test. The summary reports those splits and chooses no ratio (no set has a separate val split)."""
    rows = []
    for variant, ratios in (("frozen", [1.0]), ("openvclip", [0.0, 0.5, 1.0])):
        for ratio in ratios:
            base = {
                "variant": variant,
                "ratio": ratio,
                "n_videos": 10,
                "n_classes": 5,
                "n_missing": "",
                "n_unreadable": 0,
                "config_hash": "h",
            }
            rows.append({**base, "dataset": "k400", "split": "val", "metric": "top1", "value": 80 - 20 * ratio})
            for split, v in (("test1", 50.0), ("test2", 54.0), ("test3", 58.0), ("mean", 54.0), ("std", 4.0)):
                lost = {"n_missing": 2, "n_unreadable": 1} if split == "test1" else {"n_missing": 0}
                rows.append(
                    {
                        **base,
                        "dataset": "hmdb",
                        "split": split,
                        "metric": "top1",
                        "value": v + (10 * ratio if split != "std" else 0),
                        **lost,
                    }
                )
            rows.append({**base, "dataset": "msrvtt", "split": "test", "metric": "t2v_r1", "value": 30.0})
    write_rows(tmp_path / "all.csv", rows, list(rows[0]))
    spec = {
        "files": [tmp_path / "all.csv"],
        "train_set": "k400",
        "zeroshot": ["hmdb"],
        "retrieval": ["msrvtt"],
        "variants": {"frozen": {"trained": False}, "openvclip": {"trained": True}},
        "trained_variants": ["openvclip"],
        "test_ratio": 0.5,
        "method": "openvclip",
        "baseline": "finetune",
    }
    write_report(
        spec, tmp_path / "summary.md", tmp_path / "plot.png", tmp_path / "metrics.json", tmp_path / "points.csv"
    )
    text = (tmp_path / "summary.md").read_text()
    assert "| openvclip | paper r=0.5 | 70.0 | 59.0 ± 4.0 | 30.0 |" in text
    # What each split lost, from the result files; a count a file lacks (k400, msrvtt here) is not invented.
    assert "| hmdb | test1 | 13 | 2 | 1 | 10 |" in text and "| hmdb | test2 | 10 | 0 | 0 | 10 |" in text
    assert "| k400 | val | not recorded | not recorded | 0 | 10 |" in text and "| hmdb | mean |" not in text
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # DVC's headline: each variant at the test ratio (frozen CLIP at its one ratio), names saying what they score.
    assert metrics["openvclip"] == {
        "ratio": 0.5,
        "k400_closedset_top1": 70.0,
        "hmdb_zeroshot_top1": 59.0,
        "hmdb_zeroshot_top1_std": 4.0,
        "msrvtt_retrieval_t2v_r1": 30.0,
    }
    assert metrics["frozen"]["ratio"] == 1.0 and metrics["frozen"]["hmdb_zeroshot_top1"] == 64.0
    assert metrics["test_ratio"] == 0.5
    # hmdb lost 3 of 13 in one split, none in the other; k400's files did not record what was listed.
    assert metrics["lost_videos"]["hmdb"] == 3 and metrics["lost_videos"]["k400"] is None
    points = read_rows(tmp_path / "points.csv")
    assert [(p["variant"], float(p["ratio"]), float(p["k400"]), float(p["hmdb"])) for p in points] == [
        ("frozen", 1.0, 60.0, 64.0),
        ("openvclip", 0.0, 80.0, 54.0),
        ("openvclip", 0.5, 70.0, 59.0),
        ("openvclip", 1.0, 60.0, 64.0),
    ]
    assert "| frozen | r=1.0 | 60.0 | 64.0 ± 4.0 | 30.0 |" in text
    assert "val-chosen" not in text and "Expectations of the demo" not in text
    assert "k400: validation split, hmdb: mean of the test splits, msrvtt: test split" in text
    assert (tmp_path / "plot.png").stat().st_size > 0
    # The baseline the config names has no results here: the claim is reported as untestable, not skipped.
    assert "**openvclip above finetune?** | missing" in text
    assert "On hmdb, the claim cannot be tested: the trade-off curve of openvclip or finetune is missing" in text


def demo_rows(method, baseline):
    """Demo-style rows (test and val splits alike): the frozen model, a baseline and a method swept over 3
    ratios, and the shares of the right object and action where the checks read them."""
    rows = []

    def add(variant, ratio, dataset, value, metric="top1", classes=8):
        rows.extend(
            {
                "variant": variant,
                "ratio": ratio,
                "dataset": dataset,
                "split": split,
                "metric": metric,
                "value": value,
                "n_videos": 10,
                "n_classes": classes,
                "n_missing": 0,
                "n_unreadable": 0,
                "config_hash": "h",
            }
            for split in ("val", "test")
        )

    curves = {
        baseline: {"motion": (60.0, 45.0, 25.0), "appearance": (20.0, 60.0, 80.0), "comp": (10.0, 30.0, 20.0)},
        method: {"motion": (58.0, 50.0, 25.0), "appearance": (40.0, 70.0, 80.0), "comp": (12.0, 35.0, 20.0)},
    }
    for variant, sets in curves.items():
        for ratio, k in ((0.0, 0), (0.5, 1), (1.0, 2)):
            for d, values in sets.items():
                add(variant, ratio, d, values[k])
    for d, v in (("motion", 15.0), ("appearance", 80.0), ("comp", 20.0)):
        add("clip", 1.0, d, v)
    add("clip", 1.0, "motion", 30.0, "action_top1", 4)  # chance 25%
    add("clip", 1.0, "motion", 90.0, "object_top1", 5)  # chance 20%
    add("clip", 1.0, "comp", 85.0, "object_top1", 5)
    add(baseline, 0.0, "comp", 40.0, "object_top1", 5)
    return rows


def demo_spec(results):
    """The report spec of :func:`demo_rows`' variants (frozen ``clip``, baseline ``ft``, method ``ovc``)."""
    return {
        "files": [results],
        "train_set": "motion",
        "zeroshot": ["appearance", "comp"],
        "variants": {"clip": {"trained": False}, "ft": {"trained": True}, "ovc": {"trained": True}},
        "trained_variants": ["ft", "ovc"],
        "test_ratio": 0.5,
        "method": "ovc",
        "baseline": "ft",
        "frozen": "clip",
    }


def test_the_report_compares_the_variants_the_config_names(tmp_path):
    """Renamed variants (the schema allows any name) keep the claim's rows; a missing one is shown missing."""
    rows = demo_rows("ovc", "ft")
    write_rows(tmp_path / "all.csv", rows, list(rows[0]))
    spec = {
        **demo_spec(tmp_path / "all.csv"),
        "without_temporal": ["ft_static"],
        "transfer_set": "comp",
        "expectations": {
            "frozen_action_above_chance_max": 10,
            "frozen_object_above_chance_min": 75,
            "transfer": True,
            "forgetting": True,
            "temporal_gain_min": 20,
            "intermediate_ratio": True,
        },
    }
    write_report(spec, tmp_path / "summary.md", tmp_path / "plot.png")
    text = (tmp_path / "summary.md").read_text()
    assert "| appearance | **ovc above ft?** | 1 of 1 seeds |" in text
    assert "On appearance, the claim holds: ovc's curve is above ft's in 1 of 1 seed(s)" in text
    assert (
        "| frozen CLIP (clip): motion top-1 class of the right action near chance (within 10 points) "
        "| 30.0% (chance 25.0%) | yes |" in text
    )
    assert (
        "| frozen CLIP (clip): motion top-1 class of the right object >= 75 points above chance "
        "| 90.0% (chance 20.0%) | **no** |" in text
    )
    # ft's val-chosen ratio (0.5: the best mean of closed-set and zero-shot on val) against frozen CLIP.
    assert "| transfer: ft at its val-chosen ratio beats frozen CLIP on comp | r=0.5: 30.0 vs 20.0 | yes |" in text
    assert (
        "| forgetting: ft (r=0) gets comp's objects right less often than frozen CLIP | 40.0 vs 85.0 (45.0 points) "
        "| yes |" in text
    )
    # ft_static was never evaluated: its row says what is missing instead of disappearing.
    assert (
        "| temporal attention: motion ft >= 20 points above ft_static | missing: ft_static on motion | missing |"
        in text
    )
    assert "| ovc: an intermediate ratio beats both ends on comp | r=0.5: 35.0 vs ends 12.0 / 20.0 | yes |" in text


def test_the_ablation_table_gives_each_component_over_seeds_at_its_ratios(tmp_path):
    rows = []
    for seed, shift in (("0", 0.0), ("1", 2.0)):
        rows += [
            {**r, "value": float(r["value"]) + shift, "experiment": "ablation", "seed": seed}
            for r in demo_rows("ovc", "ft")
        ]
    write_rows(tmp_path / "study.csv", rows, list(rows[0]))
    spec = {
        **demo_spec(tmp_path / "study.csv"),
        "ablation": [
            {"row": "fine-tuning", "variant": "ft", "ratio": "trained"},
            {"row": "+ weight interpolation", "variant": "ft"},
            {"row": "+ interpolated weight optimisation", "variant": "ovc_last"},
            {"row": "+ SWA", "variant": "ovc", "ratio": "interpolated"},
            {"row": "frozen CLIP", "variant": "clip"},
        ],
    }
    write_report(spec, tmp_path / "summary.md", tmp_path / "plot.png")
    text = (tmp_path / "summary.md").read_text()
    table = text[text.index("### The paper's ablation") : text.index("### Trade-off curves")]
    body = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    # Seeds 0 and 1 differ by 2 points everywhere: mean = seed 0 + 1, std = sqrt(2).
    assert body == [
        "| fine-tuning | ft, r=0 | 61.0 ± 1.4 | 21.0 ± 1.4 | 11.0 ± 1.4 |",
        "| + weight interpolation | ft, val-chosen r=0.50 | 46.0 ± 1.4 | 61.0 ± 1.4 | 31.0 ± 1.4 |",
        "| + weight interpolation | ft, r=0.50 | 46.0 ± 1.4 | 61.0 ± 1.4 | 31.0 ± 1.4 |",
        "| + interpolated weight optimisation | ovc_last | missing |  |  |",
        "| + SWA | ovc, val-chosen r=0.50 | 51.0 ± 1.4 | 71.0 ± 1.4 | 36.0 ± 1.4 |",
        "| + SWA | ovc, r=0.50 | 51.0 ± 1.4 | 71.0 ± 1.4 | 36.0 ± 1.4 |",
        "| frozen CLIP | clip, r=1 | 16.0 ± 1.4 | 81.0 ± 1.4 | 21.0 ± 1.4 |",
    ]


PREMISES = {
    "split": "val",
    "pretrained_share_min": 0.7,
    "chance_multiple_min": 5,
    "attention_harm_max": 3,
    "basin_ratio": 0.5,
    "basin_share_min": 0.8,
    "finetune_gain_min": 20,
    "temporal_gain_min": 10,
}


def premise_lines(text):
    section = text[text.index("### Premises of the method") :]
    section = section[: section.index("\n### ")] if "\n### " in section else section
    return [line for line in section.splitlines() if line.startswith("| P")]


def test_the_premises_are_read_on_the_validation_splits_and_can_each_say_no(tmp_path):
    rows = demo_rows("ovc", "ft")
    # The test splits say otherwise everywhere: the premises must not read them.
    rows = [{**r, "value": 0.0 if r["split"] == "test" else r["value"]} for r in rows]
    rows += [{**r, "variant": "ft_static", "value": 48.0} for r in rows if r["variant"] == "ft" and r["ratio"] == 0.0]
    write_rows(tmp_path / "all.csv", rows, list(rows[0]))
    spec = {
        **demo_spec(tmp_path / "all.csv"),
        "variants": {**demo_spec("")["variants"], "ft_static": {"trained": True}, "ft_off": {"weights_of": "ft"}},
        "without_temporal": ["ft_static", "ft_off"],
        "premises": {**PREMISES, "where_they_fail": "At 24 epochs P4 held."},
    }
    write_report(spec, tmp_path / "summary.md", tmp_path / "plot.png")
    text = (tmp_path / "summary.md").read_text()
    lines = premise_lines(text)
    # A premise fails: the sentence saying what holds it follows the table; where all hold, it is not printed.
    assert text.index("At 24 epochs P4 held.") > text.index(lines[-1])
    lax = dict(pretrained_share_min=0, chance_multiple_min=0, attention_harm_max=100, basin_share_min=0)
    lax.update(finetune_gain_min=-100, temporal_gain_min=-100)
    write_report({**spec, "premises": {**spec["premises"], **lax}}, tmp_path / "lax.md", tmp_path / "lax.png")
    lax_text = (tmp_path / "lax.md").read_text()
    assert "| **no** |" not in "\n".join(premise_lines(lax_text)) and "At 24 epochs" not in lax_text
    assert lines == [
        # frozen 80 vs ft 20 (4x), 80 / 12.5 = 6.4x chance; comp: 20 vs 10, but only 1.6x chance
        "| P1 pretrained knowledge: frozen CLIP (clip) on appearance >= 0.7 x ft (r=0) and >= 5 x chance "
        "| 80.0 vs 20.0 (4.00 x), 6.4 x chance | yes |",
        "| P1 pretrained knowledge: frozen CLIP (clip) on comp >= 0.7 x ft (r=0) and >= 5 x chance "
        "| 20.0 vs 10.0 (2.00 x), 1.6 x chance | **no** |",
        # ft at r=1 is CLIP's weights with temporal attention: 25 on motion against frozen CLIP's 15
        "| P2 attention harmless: on motion, CLIP's weights with temporal attention (ft at r=1) within 3 points "
        "of without (clip) | 25.0 vs 15.0 (+10.0) | **no** |",
        "| P2 attention harmless: on appearance, CLIP's weights with temporal attention (ft at r=1) within 3 "
        "points of without (clip) | 80.0 vs 80.0 (+0.0) | yes |",
        "| P2 attention harmless: on comp, CLIP's weights with temporal attention (ft at r=1) within 3 points of "
        "without (clip) | 20.0 vs 20.0 (+0.0) | yes |",
        "| P3 one basin: ft mixed with CLIP's weights at r=0.5 keeps >= 0.8 of its motion top-1 (r=0) "
        "| 45.0 of 60.0 (0.75 x) | **no** |",
        "| P4 training worth it: ft (r=0) on motion >= 20 points above frozen CLIP (clip) | 60.0 vs 15.0 (+45.0) "
        "| yes |",
        # ft_off only switches attention off on ft's weights: not fine-tuning without it, so no row
        "| P4 temporal attention worth it: ft (r=0) on motion >= 10 points above ft_static | 60.0 vs 48.0 (+12.0) "
        "| yes |",
    ]


def test_a_premise_holds_over_seeds_only_where_it_holds_in_each(tmp_path):
    rows = []
    for seed, shift in (("0", 0.0), ("1", -20.0)):
        rows += [
            {**r, "value": r["value"] + (shift if r["variant"] == "ft" and r["ratio"] == 0.0 else 0.0)}
            | {"experiment": "ablation", "seed": seed}
            for r in demo_rows("ovc", "ft")
        ]
    write_rows(tmp_path / "study.csv", rows, list(rows[0]))
    spec = {**demo_spec(tmp_path / "study.csv"), "premises": {**PREMISES, "basin_share_min": 0.7}}
    write_report(spec, tmp_path / "summary.md", tmp_path / "plot.png")
    text = (tmp_path / "summary.md").read_text()
    lines = premise_lines(text)
    assert "seeds 0, 1, each shown, and a row holds when it holds in every seed" in text
    # Seed 1's fine-tuning scores 40 on motion: 45 / 40 holds, 45 / 60 = 0.75 too; its gain of 25 holds, ...
    assert "| 45.0 of 60.0 (0.75 x) / 45.0 of 40.0 (1.12 x) | yes |" in lines[5]
    assert lines[6].endswith("| 60.0 vs 15.0 (+45.0) / 40.0 vs 15.0 (+25.0) | yes |")
    # ... and P1 on comp fails in both; no variant trained without temporal attention: the row says so.
    assert lines[1].endswith("| **no** |")
    assert lines[7] == (
        "| P4 temporal attention worth it: ft (r=0) on motion >= 10 points above a variant trained without temporal "
        "attention (report.without_temporal) | missing: a variant trained without temporal attention "
        "(report.without_temporal) on motion | missing |"
    )
