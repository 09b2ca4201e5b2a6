"""Class names as the released Open-VCLIP label files give them (`tests/data/released/`: UCF101 and HMDB51 folder
names beside the released names, the K400 classes, the three K600 novel-class splits of 160), so our classifiers
are built from the same texts the published numbers were scored with."""

import json
from pathlib import Path

import pytest

from openvclip.data.sets import hmdb51, ucf101
from openvclip.data.sets.kinetics import NOVEL_FACTS, normalise_name

RELEASED = Path(__file__).parent / "data" / "released"


def pairs(name):
    return [line.rstrip("\n").split("\t") for line in (RELEASED / name).read_text().splitlines()]


def lines(name):
    return (RELEASED / name).read_text().splitlines()


def test_ucf101_names_are_the_released_ones():
    rows = pairs("ucf101_classes.tsv")
    assert len(rows) == 101
    # CLIP's tokenizer lower-cases, so case is the only freedom left.
    assert {folder: ucf101.class_text(folder) for folder, _ in rows} == {
        folder: released.lower() for folder, released in rows
    }


def test_hmdb51_names_are_the_released_ones():
    rows = pairs("hmdb51_classes.tsv")
    assert len(rows) == 51 and all(hmdb51.class_text(folder) == released for folder, released in rows)


def test_k400_classes_are_the_released_ones():
    ours = (Path(__file__).parent / "data" / "k400_classes.txt").read_text().splitlines()
    assert sorted(ours) == sorted(lines("k400_classes.txt")) and len(set(ours)) == 400


@pytest.mark.parametrize("split", [1, 2, 3])
def test_k600_novel_splits_are_the_released_ones(split):
    ours = json.loads(NOVEL_FACTS.read_text())["er_zsar_test_classes"]
    ours = ours[split - 1] if isinstance(ours, list) else list(ours.values())[split - 1]
    released = lines(f"k600_novel_split{split}.txt")
    assert len(released) == 160 and sorted(map(normalise_name, ours)) == sorted(map(normalise_name, released))
