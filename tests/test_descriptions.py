"""Class descriptions: our map format (JSON / YAML), FROSTER's released layout, and the prompts built from them."""

import json

import pytest

from openvclip.errors import UserError
from openvclip.models.descriptions import (
    ClassText,
    class_prompts,
    read_description_files,
    read_descriptions,
    step_prompts,
)

# The first 5 entries of FROSTER's label_rephrase/hmdb_rephrased_classes.json, verbatim.
HMDB_RELEASED_HEAD = {
    "0": "Brush hair: A person is using a brush to style their hair",
    "1": "Cartwheel: A person is doing a cartwheel by flipping their body over in the air with their hands and feet",
    "2": "Catch: A person is catching an object thrown at them, such as a ball",
    "3": "Chew: A person is eating food and chewing it with their mouth",
    "4": "Clap: A person is clapping their hands together as a sign of approval or appreciation",
}

# A small file in the released layout: names in FROSTER's spelling, one line per class.
RELEASED = {
    "0": "Abseiling: This video shows abseiling down a rope",
    "1": "Apply Eye Makeup: This video shows eye makeup being applied",
    "2": "Air Drumming: Someone drums on an imaginary kit",
    "3": "Driving a car: Someone drives a car: hands on the wheel",
}
TEMPLATES = ("a video of {}.", "a photo of a person {}.")


def write_json(tmp_path, data, name="descriptions.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_map_format_from_json_in_classnames_order(tmp_path):
    path = write_json(tmp_path, {"archery": ["shooting arrows", "a bow is drawn"], "bowling": ["rolling a ball"]})
    assert read_descriptions(path, ["bowling", "archery"]) == [
        ClassText("bowling", ("rolling a ball",)),
        ClassText("archery", ("shooting arrows", "a bow is drawn")),
    ]


def test_map_format_from_yaml_and_single_string(tmp_path):
    path = tmp_path / "descriptions.yml"
    path.write_text("apply eye makeup:\n  - brushing eyeshadow on\n  - lining the eyes\nyoyo: spinning a yoyo\n")
    assert read_descriptions(path, ["yoyo", "apply eye makeup"]) == [
        ClassText("yoyo", ("spinning a yoyo",)),
        ClassText("apply eye makeup", ("brushing eyeshadow on", "lining the eyes")),
    ]


def test_map_keys_must_match_exactly(tmp_path):
    path = write_json(tmp_path, {"Archery": ["shooting arrows"]})
    with pytest.raises(UserError, match=r"'archery' \(closest in the file: 'Archery'\)"):
        read_descriptions(path, ["archery"])


def test_file_may_cover_more_classes(tmp_path):
    path = write_json(tmp_path, {"archery": ["shooting arrows"], "bowling": [], "surfing": ["riding a wave"]})
    assert read_descriptions(path, ["surfing"]) == [ClassText("surfing", ("riding a wave",))]


def test_froster_format_matches_other_case_and_spacing(tmp_path):
    path = write_json(tmp_path, RELEASED)
    texts = read_descriptions(path, ["air drumming", "ApplyEyeMakeup", "abseiling"], {"driving car": "Driving a car"})
    assert texts == [
        ClassText("Air Drumming", ("Air Drumming: Someone drums on an imaginary kit",)),
        ClassText("Apply Eye Makeup", ("Apply Eye Makeup: This video shows eye makeup being applied",)),
        ClassText("Abseiling", ("Abseiling: This video shows abseiling down a rope",)),
    ]


def test_froster_alias(tmp_path):
    path = write_json(tmp_path, RELEASED)
    # The released name is the text before the FIRST ':'; the whole line is the description.
    assert read_descriptions(path, ["driving car"], {"driving car": "driving a car"}) == [
        ClassText("Driving a car", ("Driving a car: Someone drives a car: hands on the wheel",))
    ]


def test_froster_without_alias_suggests_one(tmp_path):
    path = write_json(tmp_path, RELEASED)
    with pytest.raises(UserError, match=r"'driving car' \(closest in the file: 'Driving a car'\).*aliases"):
        read_descriptions(path, ["abseiling", "driving car"])


def test_alias_to_a_name_not_in_the_file_is_refused(tmp_path):
    path = write_json(tmp_path, RELEASED)
    with pytest.raises(UserError, match=r"alias 'driving car': 'Driving a truck'.*no class 'Driving a truck'"):
        read_descriptions(path, ["driving car"], {"driving car": "Driving a truck"})


def test_released_hmdb_entries(tmp_path):
    path = write_json(tmp_path, HMDB_RELEASED_HEAD, "hmdb_rephrased_classes.json")
    # Our HMDB51 parser's names: folder names with underscores as spaces.
    texts = read_descriptions(path, ["brush hair", "cartwheel", "catch", "chew", "clap"])
    assert [t.name for t in texts] == ["Brush hair", "Cartwheel", "Catch", "Chew", "Clap"]
    assert [t.descriptions for t in texts] == [(line,) for line in HMDB_RELEASED_HEAD.values()]
    assert class_prompts(texts[0], ["a video of {}.", "a example of a person {}."]) == [
        "a video of Brush hair. Brush hair: A person is using a brush to style their hair",
        "a example of a person Brush hair. Brush hair: A person is using a brush to style their hair",
        "Brush hair: A person is using a brush to style their hair",
    ]


def test_froster_duplicate_names_refused_naming_both(tmp_path):
    path = write_json(tmp_path, {"0": "Apply Eye Makeup: one", "1": "ApplyEyeMakeup: two"})
    with pytest.raises(UserError, match=r"'0' \('Apply Eye Makeup'\) and '1' \('ApplyEyeMakeup'\)"):
        read_descriptions(path, ["apply eye makeup"])


def test_two_classes_on_one_released_line_refused(tmp_path):
    path = write_json(tmp_path, RELEASED)
    with pytest.raises(UserError, match=r"'abseiling' and 'driving car' both match 'Abseiling'"):
        read_descriptions(path, ["abseiling", "driving car"], {"driving car": "Abseiling"})


@pytest.mark.parametrize("released", [False, True])
def test_missing_classes_named_with_count(tmp_path, released):
    data = RELEASED if released else {"abseiling": ["down a rope"]}
    path = write_json(tmp_path, data)
    with pytest.raises(UserError) as error:
        read_descriptions(path, ["abseiling", "bowling", "surfing"])
    message = str(error.value)
    assert "2 class(es)" in message and "'bowling'" in message and "'surfing'" in message
    assert "'abseiling'" not in message and str(path) in message
    assert ("aliases" in message) == released


def test_many_missing_classes_listed_ten_and_counted(tmp_path):
    path = write_json(tmp_path, {"c0": ["zero"]})
    names = [f"class{k:02d}" for k in range(25)]
    with pytest.raises(UserError) as error:
        read_descriptions(path, names)
    message = str(error.value)
    assert "25 class(es)" in message and "and 15 more" in message
    assert "'class09'" in message and "'class10'" not in message


@pytest.mark.parametrize(
    "value, complaint",
    [([], "not a non-empty list"), (["fine", 3], "3 is not a string"), (["fine", "  "], "is empty"), (7, "7")],
)
def test_bad_entries_refused_naming_the_class(tmp_path, value, complaint):
    path = write_json(tmp_path, {"archery": ["shooting arrows"], "bowling": value})
    with pytest.raises(UserError, match=rf"class 'bowling' in .*descriptions\.json.*{complaint}"):
        read_descriptions(path, ["archery", "bowling"])


@pytest.mark.parametrize(
    "name, text, complaint",
    [
        ("d.yaml", "bowling: ''\n", r"class 'bowling'.*is empty"),
        ("descriptions.txt", '{"bowling": ["rolling"]}', r"descriptions\.txt.*'\.txt'.*\.json, \.yaml, \.yml"),
        ("broken.json", '{"bowling": ["rolling",]}', r"broken\.json is not valid JSON: .*line 1"),
        ("broken.yaml", "bowling: [rolling\n", r"broken\.yaml is not valid YAML"),
    ],
)
def test_unusable_files_are_refused_naming_file_and_fix(tmp_path, name, text, complaint):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserError, match=complaint):
        read_descriptions(path, ["bowling"])


def test_not_a_mapping_refused(tmp_path):
    path = write_json(tmp_path, ["Abseiling: down a rope"])
    with pytest.raises(UserError, match=r"descriptions\.json holds a list"):
        read_descriptions(path, ["abseiling"])


def test_numbered_file_with_a_colonless_line_named(tmp_path):
    path = write_json(tmp_path, {"0": "Abseiling: down a rope", "1": "Archery"})
    with pytest.raises(UserError, match=r"entry '1' is not a 'Class Name: description'"):
        read_descriptions(path, ["abseiling", "archery"])


def test_missing_file_is_a_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_descriptions(tmp_path / "absent.json", ["archery"])


def test_class_prompts_without_descriptions():
    assert class_prompts(ClassText("archery", ()), TEMPLATES) == ["a video of archery.", "a photo of a person archery."]


def test_class_prompts_with_descriptions():
    text = ClassText("archery", ("shooting arrows", "a bow is drawn"))
    assert class_prompts(text, TEMPLATES) == [
        "a video of archery. shooting arrows",
        "a video of archery. a bow is drawn",
        "a photo of a person archery. shooting arrows",
        "a photo of a person archery. a bow is drawn",
        "shooting arrows",
        "a bow is drawn",
    ]


def test_class_prompts_froster_rule(tmp_path):
    (text,) = read_descriptions(write_json(tmp_path, {"0": "Abseiling: desc"}), ["abseiling"])
    assert class_prompts(text, TEMPLATES) == [
        "a video of Abseiling. Abseiling: desc",
        "a photo of a person Abseiling. Abseiling: desc",
        "Abseiling: desc",
    ]


def test_step_prompts():
    assert step_prompts(ClassText("archery", ()), TEMPLATES, 1) == ["a photo of a person archery."]
    assert step_prompts(ClassText("Abseiling", ("Abseiling: desc",)), TEMPLATES, 0) == [
        "a video of Abseiling. Abseiling: desc",
        "Abseiling: desc",
    ]
    assert step_prompts(ClassText("archery", ("shooting arrows", "a bow is drawn")), TEMPLATES, 1) == [
        "a photo of a person archery. shooting arrows",
        "a photo of a person archery. a bow is drawn",
        "shooting arrows",
        "a bow is drawn",
    ]
    with pytest.raises(IndexError):
        step_prompts(ClassText("archery", ()), TEMPLATES, 2)


def test_several_files_each_class_from_the_first_that_has_it(tmp_path):
    first = write_json(tmp_path, {"0": "Abseiling: first", "1": "Air Drumming: drums"}, "split1.json")
    second = write_json(tmp_path, {"0": "Abseiling: second", "1": "Archery: arrows"}, "split2.json")
    got = read_description_files([first, second], ["archery", "abseiling", "air drumming"])
    assert [t.descriptions for t in got] == [("Archery: arrows",), ("Abseiling: first",), ("Air Drumming: drums",)]
    # A class no split scores (K600's classes outside every split) may keep its name; any other missing one stops.
    got = read_description_files([first], ["abseiling", "spelunking"], optional=["spelunking"])
    assert got[1] == ClassText("spelunking", ())
    with pytest.raises(UserError, match=r"1 class\(es\) have no description in .*split1.json.*'spelunking'"):
        read_description_files([first], ["abseiling", "spelunking"])


def test_the_job_fetches_verified_files_and_embed_text_averages_their_prompts(http_server, tmp_path):
    """A data set's `descriptions:` sources are fetched like any other file (checksum verified, numbered in
    order), and the cached classifier averages, per class, the normalised embeddings of exactly the prompts
    class_prompts lists: every template with the name and the sentence, then the sentence alone."""
    import hashlib

    import torch
    import torch.nn.functional as F

    from openvclip.data.jobs import class_descriptions
    from openvclip.data.manifest import labelled, write_lines, write_manifest
    from openvclip.models import build_tokenizer, load_text
    from openvclip.models.jobs import embed_text
    from openvclip.weights import save_weights

    from .conftest import make_clip, tiny_config

    body = json.dumps({"0": "Apply Eye Makeup: eyes are painted", "1": "Archery: arrows fly"}).encode()
    url = http_server.add("label_rephrase/ucf.json", body)
    entry = {"descriptions": {"files": [{"url": url, "sha256": hashlib.sha256(body).hexdigest()}]}}
    manifest = tmp_path / "ucf.csv"
    rows = [
        {"path": f"v{i}.avi", "label": i, "classname": c, "split": "test1"}
        for i, c in enumerate(["archery", "apply eye makeup"])
    ]
    write_manifest(manifest, rows)
    write_lines(manifest.with_suffix(".classes.txt"), ["archery", "apply eye makeup"])
    files = class_descriptions(entry, "ucf", manifest, tmp_path / "downloads", tmp_path / "out", progress=False)
    assert [f.name for f in files] == ["00-ucf.json"] and files[0].read_bytes() == body
    (tmp_path / "out" / ".snakemake_timestamp").write_text("")  # what Snakemake adds to a folder it made

    model = make_clip()
    theta0 = tmp_path / "theta0.safetensors"
    save_weights(model.state_dict(), theta0)
    spec = {"config": tiny_config()}
    templates = ["a video of {}.", "{}"]
    out = tmp_path / "text.pt"
    rows, classes, _ = labelled(manifest, "classname")
    embed_text(
        spec,
        theta0,
        rows=rows,
        classes=classes,
        column="classname",
        protocol="zeroshot",
        templates=templates,
        out=out,
        source=str(manifest),
        descriptions=tmp_path / "out",
    )
    payload = load_text(out)
    assert payload["class_texts"][1] == {
        "name": "Apply Eye Makeup",
        "descriptions": ["Apply Eye Makeup: eyes are painted"],
    }
    tokenizer = build_tokenizer(spec)
    prompts = [
        "a video of Apply Eye Makeup. Apply Eye Makeup: eyes are painted",
        "Apply Eye Makeup Apply Eye Makeup: eyes are painted",
        "Apply Eye Makeup: eyes are painted",
    ]
    with torch.no_grad():
        by_hand = F.normalize(F.normalize(model.encode_text(tokenizer(prompts)), dim=-1).mean(0), dim=0)
    assert torch.allclose(payload["classifier"][:, 1], by_hand, atol=1e-5)

    bad = {"descriptions": {"files": [{"url": url, "sha256": "0" * 64}]}}
    with pytest.raises(Exception, match="(?i)sha256|checksum"):
        class_descriptions(bad, "ucf", manifest, tmp_path / "downloads2", tmp_path / "out2", progress=False)
    assert not (tmp_path / "out2").exists()  # nothing half-written


def test_synthetic_descriptions_cover_every_labelling_of_a_video():
    from openvclip.data.synthetic import MOTIONS, describe

    texts = describe(("red", "circle"), "circling")
    assert set(texts) == {"red circle", "circling", "red circle circling"}
    assert all(len(v) == 2 and len(set(v)) == 2 for v in texts.values())
    # every motion is rephrased, and differently from every other
    phrases = [describe(("red", "circle"), m)[m][0] for m in MOTIONS]
    assert len(set(phrases)) == len(MOTIONS)
