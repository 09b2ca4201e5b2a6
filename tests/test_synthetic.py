"""The synthetic world: deterministic for a seed, decodes exactly, balanced and disjoint by design."""

import numpy as np
import pytest

from openvclip.data.frame_store import open_store
from openvclip.data.frame_writer import FrameSettings, write_store
from openvclip.data.manifest import read_manifest, write_manifest
from openvclip.data.sampling import view_indices
from openvclip.data.synthetic import (
    FRAME_ORDER_TWINS,
    GROWTH,
    MOTION_SCENES,
    MOTIONS,
    PHOTO_BRIGHTNESS,
    SCENES,
    SHAPES,
    SyntheticSet,
    World,
    all_objects,
    background,
    generate_set,
    pair_swap,
    render_exposure,
    render_image,
    render_object,
    render_video,
    split_objects,
    trajectory,
)
from openvclip.data.videos import read_frames

WORLD = World(num_frames=6)


def test_rendering_is_deterministic_for_a_seed_and_differs_across_seeds():
    a = render_video(WORLD, ("red", "star"), "circling", np.random.default_rng(5))
    b = render_video(WORLD, ("red", "star"), "circling", np.random.default_rng(5))
    c = render_video(WORLD, ("red", "star"), "circling", np.random.default_rng(6))
    assert a.shape == (6, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(
        render_image(WORLD, ("blue", "ring"), np.random.default_rng(1)),
        render_image(WORLD, ("blue", "ring"), np.random.default_rng(1)),
    )


def test_frames_rendered_together_equal_frames_rendered_one_by_one():
    path = trajectory(WORLD, "circling", np.random.default_rng(2))
    together = render_object(32, "star", path["cx"], path["cy"], path["radius"], path["angle"])
    alone = [
        render_object(32, "star", path["cx"][i], path["cy"][i], path["radius"][i], path["angle"][i])
        for i in range(WORLD.num_frames)
    ]
    assert together.shape == (6, 32, 32) and alone[0].shape == (32, 32)
    assert np.allclose(together, np.stack(alone))
    assert len({together[i].tobytes() for i in range(6)}) == 6  # the object really moves


def test_a_long_exposure_is_the_clips_frames_averaged():
    world = World(
        num_frames=8, noise=0.0, frame_noise=0.0
    )  # scenes included: the exposure is the video's, scene and all
    for motion in MOTIONS:
        video = render_video(world, ("white", "circle"), motion, np.random.default_rng(4))
        exposure = render_exposure(world, ("white", "circle"), motion, np.random.default_rng(4))
        assert exposure.shape == (32, 32, 3) and exposure.dtype == np.uint8
        # Frames are rounded one by one, the exposure once: at most one level apart.
        assert np.abs(exposure.astype(float) - video.astype(float).mean(axis=0)).max() <= 1.0
    # A sideways move leaves a horizontal streak: the object's pixels spread wider than tall.
    world = World(
        num_frames=8, noise=0.0, frame_noise=0.0, context=0.0
    )  # plain backgrounds, as CLIP pretraining's exposures
    exposure = render_exposure(world, ("white", "circle"), "moving sideways", np.random.default_rng(0))
    rng = np.random.default_rng(0)
    trajectory(world, "moving sideways", rng)
    assert world.scene_of("moving sideways", rng) == "plain"
    bg = background(rng, 32)  # the exposure's own background: same draws in the same order
    rows, cols = np.nonzero(np.abs(exposure - bg).mean(axis=-1) > 20)
    assert np.ptp(cols) > np.ptp(rows) + 6


@pytest.mark.parametrize("motion", MOTIONS)
def test_every_motion_keeps_the_object_inside_the_frame(motion):
    for seed in range(20):
        path = trajectory(WORLD, motion, np.random.default_rng(seed))
        r = path["radius"]
        assert (path["cx"] - r >= -1e-6).all() and (path["cx"] + r <= 32 + 1e-6).all()
        assert (path["cy"] - r >= -1e-6).all() and (path["cy"] + r <= 32 + 1e-6).all()


def test_motions_change_frames_and_still_does_not():
    def spread(motion):
        path = trajectory(WORLD, motion, np.random.default_rng(0))
        return sum(np.ptp(path[k]) for k in ("cx", "cy", "radius", "brightness"))

    assert spread("still") == 0
    assert all(spread(m) > 1e-3 for m in MOTIONS if m != "still")


def test_a_growing_object_grows_in_place_and_nothing_else_changes_size():
    for seed in range(10):
        path = trajectory(WORLD, "growing", np.random.default_rng(seed))
        growth = path["radius"] / path["radius"][0]
        assert np.all(np.diff(path["radius"]) > 0) and np.isclose(growth[-1], GROWTH[1] / GROWTH[0])
        assert np.ptp(path["cx"]) == np.ptp(path["cy"]) == np.ptp(path["brightness"]) == 0
    others = [trajectory(WORLD, m, np.random.default_rng(0))["radius"] for m in MOTIONS if m != "growing"]
    assert all(np.ptp(radius) == 0 for radius in others)


def test_every_shape_differs_from_every_other_turned_any_way():
    # A shape that is another one turned and scaled (a square turned by 45 degrees is a square) would make two
    # objects that no picture tells apart, since objects come at any angle and size: at equal areas, the best
    # overlap of two shapes over 72 angles stays below a whole (circle and square, the closest pair: 0.91).
    area = {shape: render_object(96, shape, 48.0, 48.0, 30.0, 0.0).sum() for shape in SHAPES}
    angles = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    for i, a in enumerate(SHAPES):
        reference = render_object(96, a, 48.0, 48.0, 30.0, 0.0)
        for b in SHAPES[i + 1 :]:
            radius = 30.0 * np.sqrt(area[a] / area[b])
            overlap = max(
                np.minimum(reference, render_object(96, b, 48.0, 48.0, radius, angle)).sum() / area[a]
                for angle in angles
            )
            assert overlap < 0.95, (a, b, overlap)


def test_pair_swap_turns_alternation_every_frame_into_every_two_frames():
    assert pair_swap(8).tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    assert pair_swap(6).tolist() == [0, 2, 1, 3, 4, 5]
    for count in (1, 2, 3, 5, 8, 16):
        assert sorted(pair_swap(count).tolist()) == list(range(count))
    alternating = np.arange(8) % 2
    assert alternating[pair_swap(8)].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]


@pytest.mark.parametrize("num_frames", [6, 8])
def test_a_frame_order_twin_shows_its_twins_frames_in_another_order(num_frames):
    """Same draws, same frames: a blinking clip is a pulsing clip's frames reordered, lit and dim frames
    meeting more often, so no pooled set of frames tells them apart."""
    world = World(num_frames=num_frames)
    quiet = World(num_frames=num_frames, noise=0.0, frame_noise=0.0)
    assert FRAME_ORDER_TWINS == {"blinking": "pulsing"}
    changes = lambda b: int((np.diff(b) != 0).sum())  # noqa: E731
    for seed in range(10):
        for twin, original in FRAME_ORDER_TWINS.items():
            pa = trajectory(world, original, np.random.default_rng(seed))
            pb = trajectory(world, twin, np.random.default_rng(seed))
            for key in ("cx", "cy", "radius", "angle", "brightness"):
                assert np.allclose(np.sort(pa[key]), np.sort(pb[key]))
            assert changes(pb["brightness"]) == num_frames - 1 > changes(pa["brightness"])
            a = render_video(world, ("red", "star"), original, np.random.default_rng(seed))
            b = render_video(world, ("red", "star"), twin, np.random.default_rng(seed))
            assert sorted(f.tobytes() for f in a) != sorted(f.tobytes() for f in b)  # the frame noise differs
            a = render_video(quiet, ("red", "star"), original, np.random.default_rng(seed))
            b = render_video(quiet, ("red", "star"), twin, np.random.default_rng(seed))
            assert not np.array_equal(a, b)
            assert sorted(f.tobytes() for f in a) == sorted(f.tobytes() for f in b)


def test_object_groups_are_disjoint_and_seeded():
    sizes = {"heldout_pretrain": 8, "finetune": 12, "ucf": 12, "hmdb": 6, "msrvtt": 24}
    groups = split_objects(3, sizes)
    assert list(groups) == list(sizes) and {k: len(v) for k, v in groups.items()} == sizes
    flat = [o for g in groups.values() for o in g]
    assert len(flat) == len(set(flat)) == 62
    assert set(flat) <= set(all_objects()) and len(all_objects()) == 8 * len(SHAPES)
    assert split_objects(3, dict(sizes)) == groups and split_objects(4, sizes) != groups
    # A group's objects depend on the sizes before it only: a group added at the end changes no other.
    assert {k: v for k, v in split_objects(3, {**sizes, "extra": 2}).items() if k != "extra"} == groups
    with pytest.raises(ValueError, match="the groups need 70 colour-shape pairs"):
        split_objects(0, {"a": 20, "b": 20, "c": 20, "d": 10})


def test_generated_set_decodes_with_declared_frames_and_labels(tmp_path):
    spec = SyntheticSet.from_dict(
        {
            "objects": "finetune",
            "labels": "object_motion",
            "protocol": "zeroshot",
            "motions": ["still", "circling"],
            "splits": {"val": 4, "test": 6},
        },
        "toy",
    )
    objects = [("red", "circle"), ("green", "bar")]
    rows = generate_set(WORLD, spec, objects, tmp_path / "raw", seed=1, progress=False)
    again = generate_set(WORLD, spec, objects, tmp_path / "raw2", seed=1, progress=False)
    assert [r["classname"] for r in rows] == [r["classname"] for r in again]
    assert [r["split"] for r in rows] == ["val"] * 4 + ["test"] * 6
    classes = ["red circle still", "red circle circling", "green bar still", "green bar circling"]
    for row in rows:
        assert row["classname"] == classes[row["label"]] == f"{row['object']} {row['motion']}"
    # Each split cycles through all combinations before repeating one: balanced classes.
    assert len({r["classname"] for r in rows if r["split"] == "val"}) == 4
    # Lossless: decord reads back exactly what was rendered.
    first = rows[0]
    rng = np.random.default_rng([1, 0, 1, 0, 1])
    obj = tuple(first["object"].split(" "))
    assert np.array_equal(read_frames(first["path"], 6, 32), render_video(WORLD, obj, first["motion"], rng))
    write_manifest(tmp_path / "m.csv", rows, extra=("object", "motion", "object_motion", "caption"))
    write_store(
        [r["path"] for r in read_manifest(tmp_path / "m.csv")],
        tmp_path / "f",
        FrameSettings(6, 32, views=1, rate=0, format="raw"),
        progress=False,
    )
    store = open_store(tmp_path / "f")
    assert store.shape == (10, 6, 32, 32, 3) and store[2:4].shape == (2, 6, 32, 32, 3)
    assert np.array_equal(store[0], read_frames(first["path"], 6, 32))
    assert not list(tmp_path.glob("*.tmp*"))


def test_frame_sampling_spreads_over_the_video():
    assert view_indices(8, 8, 0, 1).tolist() == [list(range(8))]
    assert view_indices(16, 4, 0, 1).tolist() == [[2, 6, 10, 14]]
    assert view_indices(3, 6, 0, 1).tolist() == [[0, 0, 1, 1, 2, 2]]


def test_bad_dataset_specs_are_named():
    with pytest.raises(ValueError, match=r"datasets.toy.motions has unknown motion\(s\) \['jumping'\]"):
        SyntheticSet.from_dict({"motions": ["jumping"]}, "toy")
    with pytest.raises(ValueError, match=r"unknown split\(s\) \['dev'\]"):
        SyntheticSet.from_dict({"splits": {"dev": 3}}, "toy")


def test_a_data_set_of_an_object_group_the_config_lacks_is_refused_with_the_groups_named(tmp_path):
    from openvclip.data.jobs import prepare

    dataset = {"source": "synthetic", "objects": "heldout_pretrain", "protocol": "zeroshot", "splits": {"test": 2}}
    objects = {"heldout_pretrain": 4, "finetune": 4, "ucf": 4}
    for group in ("heldout_pretrain", "hmdb"):
        with pytest.raises(ValueError, match=f"datasets.toy.objects = '{group}' is not an object group.*finetune, ucf"):
            prepare(
                {**dataset, "objects": group}, "toy", {}, objects, 0, tmp_path, tmp_path / "raw", tmp_path / "m.csv"
            )
    assert not (tmp_path / "m.csv").exists()


def test_a_video_shows_its_motions_scene_as_often_as_the_world_says():
    scenes = lambda world, motion: [  # noqa: E731
        world.scene_of(motion, np.random.default_rng([seed, 5])) for seed in range(400)
    ]
    assert set(scenes(World(context=1.0), "circling")) == {MOTION_SCENES["circling"]}
    assert set(scenes(World(context=0.0), "circling")) == {"plain"}
    shown = scenes(World(context=0.75), "blinking")
    assert set(shown) == {"plain", "rings"} and 0.68 < shown.count("rings") / len(shown) < 0.82
    # Two pairs of motions share a scene: one frame cannot tell them apart, only the motion can.
    shared = [m for m in MOTIONS if list(MOTION_SCENES.values()).count(MOTION_SCENES[m]) > 1]
    assert sorted(shared) == ["blinking", "moving sideways", "pulsing", "shaking"]


def _profile(image, axis):
    """How much the mean brightness varies along one axis (0: down the rows, 1: across the columns)."""
    return float(np.std(image.astype(float).mean(axis=-1).mean(axis=1 - axis)))


def test_each_scene_draws_its_pattern_on_the_background():
    rng = np.random.default_rng(0)
    plain = [background(np.random.default_rng(i), 32) for i in range(20)]
    for scene in SCENES:
        images = [background(np.random.default_rng(i), 32, scene) for i in range(20)]
        if scene == "plain":
            # The plain scene is the background as it always was: same draws, same pixels.
            assert all(np.array_equal(a, b) for a, b in zip(images, plain))
            continue
        # The same draws, then the pattern: on top of the very same plain texture, with contrast of its own.
        patterns = [a - b for a, b in zip(images, plain)]
        assert all(np.allclose(p[..., 0], p[..., 2]) for p in patterns)  # a pattern of brightness, not colour
        assert min(p.std() for p in patterns) > 8, scene
    horizontal = background(rng, 32, "horizontal stripes")
    vertical = background(rng, 32, "vertical stripes")
    grid = background(rng, 32, "grid")
    assert _profile(horizontal, 0) > 3 * _profile(horizontal, 1)
    # A grid's lines run both ways: neither direction is flat.
    assert min(_profile(grid, 0), _profile(grid, 1)) > 0.3 * max(_profile(grid, 0), _profile(grid, 1))
    assert _profile(vertical, 1) > 3 * _profile(vertical, 0)
    with pytest.raises(ValueError, match="unknown scene 'pool'"):
        background(rng, 32, "pool")


def test_a_videos_scene_stays_put_while_its_object_moves():
    world = World(context=1.0, noise=0.0, frame_noise=0.0)
    video = render_video(world, ("red", "circle"), "moving sideways", np.random.default_rng(3)).astype(float)
    moved = np.abs(video[0] - video[-1]).mean(axis=-1) > 1
    # Only the object's pixels change between the first and the last frame; the stripes stay.
    assert 0.05 < moved.mean() < 0.5
    corner = ~moved
    assert np.array_equal(video[0][corner], video[-1][corner])


def test_bad_world_scenes_are_refused_by_key():
    with pytest.raises(ValueError, match=r"world.scenes.*missing \['blinking'\]"):
        World.from_dict({"scenes": {m: "plain" for m in MOTIONS if m != "blinking"}})
    with pytest.raises(ValueError, match=r"world.scenes.*unknown scenes \['pool'\]"):
        World.from_dict({"scenes": {**MOTION_SCENES, "still": "pool"}})
    with pytest.raises(ValueError, match=r"world.context' must be in \[0, 1\]"):
        World.from_dict({"context": 1.5})


def test_only_the_frame_noise_changes_between_frames_of_a_still_object():
    world = World(noise=6.0, frame_noise=2.0)
    video = render_video(world, ("red", "circle"), "still", np.random.default_rng(1)).astype(float)
    # Frame-to-frame differences have std sqrt(2) x 2 (rounding and clipping aside), not sqrt(2) x 6.
    assert 2.4 < (video[1] - video[0]).std() < 3.3
    with pytest.raises(ValueError, match=r"world.frame_noise' must be in \[0, world.noise = 1.0\]"):
        World(noise=1.0, frame_noise=2.0)


def test_photos_show_objects_in_every_light_down_to_a_dim_frames():
    # A red object's red minus green is 190 x its brightness inside the object (noise off), far above any
    # background's (its channels differ by at most 30).
    world = World(noise=0.0, frame_noise=0.0)
    rng = np.random.default_rng(0)
    photos = np.stack([render_image(world, ("red", "circle"), rng) for _ in range(300)]).astype(float)
    brightness = (photos[..., 0] - photos[..., 1]).reshape(300, -1).max(axis=1) / 190
    assert brightness.min() >= PHOTO_BRIGHTNESS[0] - 0.01 and brightness.max() <= PHOTO_BRIGHTNESS[1] + 0.01
    assert brightness.min() < 0.42 and brightness.max() > 0.97  # the whole range, dim photos included
    # Every frame of a pulsing or blinking video, dim ones included, is as bright as some photos.
    frames = np.concatenate(
        [trajectory(world, m, rng)["brightness"] for m in ("pulsing", "blinking") for _ in range(100)]
    )
    assert frames.min() >= PHOTO_BRIGHTNESS[0] and frames.max() <= PHOTO_BRIGHTNESS[1]
