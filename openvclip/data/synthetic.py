"""A procedural, seeded world of coloured shapes that move: the demo's stand-in for CLIP data and Kinetics.

Every frame is a textured, noisy background with one object (a shape in a colour) at a random position, size and
angle. Still images with captions stand in for CLIP's pretraining data; short videos whose object moves in one
of a few ways stand in for the video data sets.

The motions are chosen for the temporal model, whose window is symmetric in time (a video and its reversal get
the same embedding): every class is closed under reversal (moving sideways covers left and right; pulsing
lights up and dims in turn), and the object itself gives no motion away in a single frame (position, size, angle and
brightness are random per video).

What a frame does show is the scene. As real actions happen in their places (swimming in a pool, riding on a
road), each motion is usually seen in a scene of its own (``World.scenes``: a background pattern), and a
video shows its motion's scene with probability ``World.context``, a plain background otherwise. Scenes are
shared by a few motions (moving sideways and shaking on horizontal stripes, pulsing and blinking on rings):
only the motion tells those apart, as it tells real classes such as "walking" from "running". Moving sideways
and shaking differ in the places the frames show; pulsing and blinking differ only in the frames' order
(``FRAME_ORDER_TWINS``), which a model that pools frames without comparing them cannot see.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError
from .lost_videos import DEFAULT_MAX_UNREADABLE

COLOURS: Dict[str, Tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 80, 235),
    "yellow": (235, 225, 50),
    "magenta": (220, 50, 220),
    "cyan": (50, 220, 225),
    "white": (245, 245, 245),
    "orange": (245, 140, 30),
}
SHAPES = ("circle", "square", "triangle", "cross", "ring", "diamond", "star", "bar")
MOTIONS = (
    "still",
    "moving sideways",
    "moving up and down",
    "moving diagonally",
    "circling",
    "shaking",
    "pulsing",
    "blinking",
    "growing",
)

Object = Tuple[str, str]  # (colour, shape)

# Motions whose frames are another motion's frames in a different order: no single frame, no set of frames and
# no long exposure tells them apart, only which frames neighbour which (as real "walking" and "running" on
# one road). They are the classes a video model exists for.
FRAME_ORDER_TWINS: Dict[str, str] = {"blinking": "pulsing"}
# Brightness of a blinking or pulsing object's dim frames, relative to its lit ones: dim enough for a long
# exposure to show it (mean 0.75), bright enough that a dim frame still shows the colour (at 0.35, temporal
# attention recovered the colour from the neighbours: frozen CLIP +5.5 points on objects of the k600-like set).
BLINK_DIM = 0.5
# Brightness of the object in a still photo: photos are taken in every light, down to a dim frame's (a lit
# object's 0.75 times BLINK_DIM), so CLIP names the object in a pulsing video's dim frames as well as in its lit
# ones. With photos only as bright as lit frames (0.75 to 1), frozen CLIP named the object of fewer pulsing and
# blinking videos, and temporal attention, which mixes each frame with its lit neighbours, made up for it
# (256 ucf-like videos: objects named 86 -> 90%, top-1 31.2 -> 36.7): attention that helps CLIP's weights hides
# whether it harms them (premise P2).
PHOTO_BRIGHTNESS = (0.75 * BLINK_DIM, 1.0)

# Size of a growing object at its first and last frame, relative to its radius.
GROWTH = (0.8, 1.25)

# Background patterns: "plain" is the low-contrast texture every background has; the others add a pattern that
# marks a scene, as a pool or a road marks where an action happens.
SCENES = ("plain", "checker", "horizontal stripes", "vertical stripes", "diagonal stripes", "dots", "rings", "grid")
# The scene each motion is usually seen in. Two pairs share one: their videos' frames look alike, and only the
# motion separates them (the minority of classes that need a video model).
MOTION_SCENES: Dict[str, str] = {
    "still": "checker",
    "moving sideways": "horizontal stripes",
    "shaking": "horizontal stripes",
    "circling": "dots",
    "pulsing": "rings",
    "moving up and down": "vertical stripes",
    "moving diagonally": "diagonal stripes",
    "blinking": "rings",
    "growing": "grid",
}


def object_name(obj: Object) -> str:
    return f"{obj[0]} {obj[1]}"


def all_objects() -> List[Object]:
    return [(c, s) for c in COLOURS for s in SHAPES]


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test in the object's unit frame (radius 1)."""
    r = np.hypot(u, v)
    if shape == "circle":
        return r <= 1.0
    if shape == "square":
        return np.maximum(abs(u), abs(v)) <= 0.8
    if shape == "triangle":
        return (v >= -0.5) & (v <= 1.0 - math.sqrt(3) * abs(u))
    if shape == "cross":
        return ((abs(u) <= 0.3) & (abs(v) <= 1.0)) | ((abs(v) <= 0.3) & (abs(u) <= 1.0))
    if shape == "ring":
        return (r <= 1.0) & (r >= 0.55)
    if shape == "diamond":
        # Taller than wide: a square turned by 45 degrees would be a square, which rotation already shows.
        return abs(u) / 0.6 + abs(v) <= 1.0
    if shape == "star":
        theta = np.arctan2(v, u)
        return r <= 0.45 + 0.55 * np.abs(np.cos(2.5 * theta))
    if shape == "bar":
        return (abs(u) <= 1.0) & (abs(v) <= 0.3)
    raise UserError(f"unknown shape {shape!r}; known: {SHAPES}")


_SUPERSAMPLE = 3


def render_object(size: int, shape: str, cx, cy, radius, angle) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape centred at (cx, cy), in pixels: ``(size, size)`` for scalar
    arguments, ``(F, size, size)`` for arrays of F positions (one frame each, rendered in one pass)."""
    offsets = (np.arange(_SUPERSAMPLE) + 0.5) / _SUPERSAMPLE
    coords = (np.arange(size)[:, None] + offsets[None, :]).reshape(-1).astype(np.float32)  # sub-pixel centres
    y, x = np.meshgrid(coords, coords, indexing="ij")
    cx, cy, radius, angle = (np.asarray(a, np.float32)[..., None, None] for a in (cx, cy, radius, angle))
    dx, dy = (x - cx) / radius, (y - cy) / radius
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    inside = _shape_mask(shape, u, -v).astype(np.float32)  # -v: image rows grow downwards
    return inside.reshape(*inside.shape[:-2], size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(-3, -1))


def _pattern(scene: str, rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A scene's pattern in [-1, 1] at a random scale and phase (``x``, ``y`` in image widths)."""
    freq = rng.uniform(3.0, 4.5)  # cycles per image: a period of 7 to 11 pixels at 32
    phase = rng.uniform(0, 2 * math.pi, size=2)
    wave = lambda t, p: np.sin(2 * math.pi * freq * t + p)  # noqa: E731
    if scene == "checker":
        return np.tanh(4 * wave(x, phase[0])) * np.tanh(4 * wave(y, phase[1]))
    if scene == "horizontal stripes":
        return wave(y, phase[0])
    if scene == "vertical stripes":
        return wave(x, phase[0])
    if scene == "diagonal stripes":
        return wave((x + rng.choice([-1.0, 1.0]) * y) / math.sqrt(2), phase[0])
    if scene == "dots":
        return np.where(
            np.cos(2 * math.pi * freq * x + phase[0]) * np.cos(2 * math.pi * freq * y + phase[1]) > 0.5, 1.0, -0.3
        )
    if scene == "grid":
        lines = (np.cos(2 * math.pi * freq * x + phase[0]) > 0.8) | (np.cos(2 * math.pi * freq * y + phase[1]) > 0.8)
        return np.where(lines, 1.0, -0.4)
    if scene == "rings":
        cx, cy = rng.uniform(0, 1, size=2)
        return wave(np.hypot(x - cx, y - cy), phase[0])
    raise UserError(f"unknown scene {scene!r}; known: {SCENES}")


def background(rng: np.random.Generator, size: int, scene: str = "plain") -> np.ndarray:
    """A low-contrast texture (a few random plane waves around a dull random tint) and, but for the plain
    scene, the scene's pattern on top: ``(size, size, 3)`` float."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(60, 120) + rng.uniform(-15, 15, size=3)
    texture = np.zeros((size, size), np.float32)
    for _ in range(3):
        fx, fy = rng.uniform(-4, 4, size=2)
        texture += rng.uniform(5, 15) * np.sin(2 * math.pi * (fx * x + fy * y) + rng.uniform(0, 2 * math.pi))
    if scene != "plain":
        texture += rng.uniform(20, 30) * _pattern(scene, rng, x, y)
    return base[None, None, :] + texture[:, :, None]


@dataclasses.dataclass(frozen=True)
class World:
    """Rendering parameters (the ``world:`` config section)."""

    image_size: int = 32
    num_frames: int = 8
    min_radius: float = 5.0
    max_radius: float = 7.5
    travel: float = 12.0  # pixels a moving object covers over the clip
    noise: float = 6.0  # per-frame pixel noise (std, 0-255 scale)
    frame_noise: float = 2.0  # the part of it that changes from frame to frame (the rest is fixed in a video)
    context: float = 0.9  # probability that a video shows its motion's scene (else a plain background)
    scenes: dict = dataclasses.field(default_factory=lambda: dict(MOTION_SCENES))  # motion -> scene

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not 0.0 <= self.frame_noise <= self.noise:
            raise UserError(
                f"config key 'world.frame_noise' must be in [0, world.noise = {self.noise}], got {self.frame_noise}"
            )
        if not 0.0 <= self.context <= 1.0:
            raise UserError(f"config key 'world.context' must be in [0, 1], got {self.context}")
        missing = sorted(set(MOTIONS) - set(self.scenes))
        unknown = sorted(set(self.scenes) - set(MOTIONS))
        bad = sorted(str(v) for v in self.scenes.values() if v not in SCENES)
        problems = [
            f"{what} {items}"
            for what, items in (("missing", missing), ("unknown motions", unknown), ("unknown scenes", bad))
            if items
        ]
        if problems:
            raise UserError(
                f"config key 'world.scenes' maps every motion to a scene: {'; '.join(problems)}. "
                f"Motions: {list(MOTIONS)}; scenes: {list(SCENES)}"
            )

    def scene_of(self, motion: str, rng: np.random.Generator) -> str:
        """The scene of one video of ``motion``: its usual one with probability ``context``, else plain."""
        return self.scenes[motion] if rng.random() < self.context else "plain"

    @classmethod
    def from_dict(cls, values) -> "World":
        from ..config import from_mapping

        return from_mapping(cls, values, "world")


def _composite(
    world: World, rng: np.random.Generator, bg: np.ndarray, obj: Object, path: Dict[str, np.ndarray]
) -> np.ndarray:
    """``(F, H, W, 3)`` uint8 frames of ``obj`` along ``path`` (arrays of F centres, radii, angles, brightnesses)."""
    colour = np.asarray(COLOURS[obj[0]], np.float32)[None, None, None, :] * path["brightness"][:, None, None, None]
    cover = render_object(world.image_size, obj[1], path["cx"], path["cy"], path["radius"], path["angle"])
    frames = bg[None] * (1 - cover[..., None]) + colour * cover[..., None]
    # Noise of std `noise` in every frame, of which only `frame_noise` changes from frame to frame: neighbouring
    # frames of a real video look alike but for what moves (a still is one frame, the same noise).
    fixed = math.sqrt(max(world.noise**2 - world.frame_noise**2, 0.0))
    frames += rng.normal(0, fixed, frames.shape[1:]) + rng.normal(0, world.frame_noise, frames.shape)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def render_image(world: World, obj: Object, rng: np.random.Generator, scene: str = "plain") -> np.ndarray:
    """One still ``(H, W, 3)`` uint8 image of ``obj`` at a random place, size and angle, in ``scene``."""
    size = world.image_size
    radius = rng.uniform(world.min_radius, world.max_radius)
    cx, cy = rng.uniform(radius, size - radius, size=2)
    path = {
        "cx": np.array([cx]),
        "cy": np.array([cy]),
        "radius": np.array([radius]),
        "angle": np.array([rng.uniform(0, 2 * math.pi)]),
        "brightness": np.array([rng.uniform(*PHOTO_BRIGHTNESS)]),
    }
    return _composite(world, rng, background(rng, size, scene), obj, path)[0]


def render_exposure(world: World, obj: Object, motion: str, rng: np.random.Generator) -> np.ndarray:
    """A long-exposure still ``(H, W, 3)`` uint8 of ``obj`` doing ``motion``: the clip's frames averaged.

    Such photos (a streak for a sideways move, a fainter object for pulsing) are how an image CLIP learns motion words
    from stills, as real CLIP learns "running" from photos of runners. Individual video frames stay sharp, so
    this grounds the words without giving the frozen model the motion of a video. The same draws as
    ``render_video``: the exposure of the video that generator state would render.
    """
    path = trajectory(world, motion, rng)
    bg = background(rng, world.image_size, world.scene_of(motion, rng))
    colour = np.asarray(COLOURS[obj[0]], np.float32)[None, None, None, :] * path["brightness"][:, None, None, None]
    cover = render_object(world.image_size, obj[1], path["cx"], path["cy"], path["radius"], path["angle"])
    frame = (bg[None] * (1 - cover[..., None]) + colour * cover[..., None]).mean(axis=0)
    frame += rng.normal(0, world.noise, frame.shape)
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def pair_swap(count: int) -> np.ndarray:
    """The order 0, 2, 1, 3, 4, 6, 5, 7, ... of ``count`` frames: the middle two of every whole four swapped,
    which turns a pattern that alternates every frame into one that alternates every two."""
    order = np.arange(count)
    for start in range(0, count - 3, 4):
        order[start + 1], order[start + 2] = start + 2, start + 1
    return order


def trajectory(world: World, motion: str, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """Per-frame centre, radius, angle and brightness of an object doing ``motion`` (random start, direction)."""
    t = np.linspace(0.0, 1.0, world.num_frames)
    size, travel = world.image_size, world.travel
    radius = rng.uniform(world.min_radius, world.max_radius)
    angle = np.full_like(t, rng.uniform(0, 2 * math.pi))
    brightness = np.full_like(t, rng.uniform(0.75, 1.0))
    scale = np.ones_like(t)
    offset_x = np.zeros_like(t)
    offset_y = np.zeros_like(t)
    sign = lambda: rng.choice([-1.0, 1.0])  # noqa: E731 - direction of a reversible motion
    if motion == "still":
        pass
    elif motion == "moving sideways":
        offset_x = sign() * travel * (t - 0.5)
    elif motion == "moving up and down":
        offset_y = sign() * travel * (t - 0.5)
    elif motion == "moving diagonally":
        offset_x = sign() * travel * (t - 0.5)
        offset_y = sign() * travel * (t - 0.5)
    elif motion == "circling":
        phase, direction = rng.uniform(0, 2 * math.pi), sign()
        orbit = travel * 0.4
        offset_x = orbit * np.cos(phase + direction * 1.6 * math.pi * t)
        offset_y = orbit * np.sin(phase + direction * 1.6 * math.pi * t)
    elif motion == "shaking":
        # Side to side, changing side every frame, over the stretch a sideways move covers.
        swing = 0.5 * travel * rng.uniform(0.7, 1.0, size=t.shape) * np.where(np.arange(len(t)) % 2 == 0, 1, -1)
        offset_x = sign() * swing
    elif motion in ("pulsing", "blinking"):
        # Lit and dim frames in turn: blinking every frame, pulsing every two (lit, lit, dim, dim, ...). The same
        # frames in another order (FRAME_ORDER_TWINS): pulsing is blinking's order with the middle two of every
        # four frames swapped.
        on = (np.arange(len(t)) + rng.integers(0, 2)) % 2 == 0
        if motion == "pulsing":
            on = on[pair_swap(len(t))]
        brightness = np.where(on, brightness, brightness * BLINK_DIM)
    elif motion == "growing":
        scale = np.linspace(GROWTH[0], GROWTH[1], len(t))
    else:
        raise UserError(f"unknown motion {motion!r}; known: {MOTIONS}")
    radii = radius * scale
    # Place the start so the whole path stays inside the frame.
    lo_x, hi_x = (radii - offset_x).max(), (size - radii - offset_x).min()
    lo_y, hi_y = (radii - offset_y).max(), (size - radii - offset_y).min()
    cx = rng.uniform(lo_x, max(lo_x, hi_x)) + offset_x
    cy = rng.uniform(lo_y, max(lo_y, hi_y)) + offset_y
    return {"cx": cx, "cy": cy, "radius": radii, "angle": angle, "brightness": brightness}


def render_video(world: World, obj: Object, motion: str, rng: np.random.Generator) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 frames of ``obj`` doing ``motion`` over a textured, noisy background: the
    motion's scene with probability ``world.context``."""
    path = trajectory(world, motion, rng)
    return _composite(world, rng, background(rng, world.image_size, world.scene_of(motion, rng)), obj, path)


HELDOUT = "heldout_pretrain"  # the object group CLIP pretraining never shows


def split_objects(seed: int, sizes: Mapping[str, int]) -> Dict[str, List[Object]]:
    """Disjoint groups of colour-shape pairs (the ``objects:`` config section: group name -> size), the same
    for a seed and the same sizes.

    ``heldout_pretrain``: never shown in CLIP pretraining; every other group is a set of objects CLIP knows,
    named by the data sets that show them (``finetune``: the training videos' objects; ``ucf``: a zero-shot
    set's objects, which fine-tuning never shows).
    """
    objects = all_objects()
    order = np.random.default_rng(seed).permutation(len(objects))
    objects = [objects[i] for i in order]
    if sum(sizes.values()) > len(objects):
        raise UserError(
            f"objects: the groups need {sum(sizes.values())} colour-shape pairs, the world has {len(objects)}"
        )
    groups, start = {}, 0
    for name, count in sizes.items():
        groups[name] = sorted(objects[start : start + count])
        start += count
    return groups


def label_text(obj: Object, motion: str, labels: str) -> str:
    """Class text of a video under a labelling: ``motion``, ``appearance``, ``object_motion``."""
    if labels == "motion":
        return motion
    if labels == "appearance":
        return object_name(obj)
    if labels == "object_motion":
        return f"{object_name(obj)} {motion}"
    raise UserError(f"unknown labelling {labels!r}; known: motion, appearance, object_motion")


def class_list(objects: Sequence[Object], motions: Sequence[str], labels: str) -> List[str]:
    if labels == "motion":
        return list(motions)
    if labels == "appearance":
        return [object_name(o) for o in objects]
    return [label_text(o, m, labels) for o in objects for m in motions]


# Two rephrasings of each motion: the demo's class descriptions (as FROSTER's rephrased class names), worded
# unlike the pretraining captions, which name the motion only as MOTIONS spells it.
MOTION_PHRASES: Dict[str, Tuple[str, str]] = {
    "still": ("that does not move", "standing in one place"),
    "moving sideways": ("sliding from side to side", "going left and right"),
    "moving up and down": ("bobbing up and down", "rising and falling"),
    "moving diagonally": ("travelling along a diagonal", "going from one corner towards the other"),
    "circling": ("going round in a circle", "tracing a circle"),
    "shaking": ("jerking from side to side", "jittering left and right"),
    "pulsing": ("glowing and dimming in slow pulses", "lighting up and fading again and again"),
    "blinking": ("appearing and disappearing", "flashing on and off"),
    "growing": ("getting bigger", "swelling in size"),
}


def describe(obj: Object, motion: str) -> Dict[str, List[str]]:
    """Class descriptions of one object doing one motion, under each labelling's class name: the object
    (``appearance``), the motion (``motion``) and both (``object_motion``)."""
    colour, shape = obj
    first, second = MOTION_PHRASES[motion]
    return {
        object_name(obj): [f"a {colour} {shape}", f"a {shape} coloured {colour}"],
        motion: [f"something {first}", f"a shape {second}"],
        f"{object_name(obj)} {motion}": [f"a {colour} {shape} {first}", f"a {shape} coloured {colour}, {second}"],
    }


SPLIT_ORDER = ("train", "val", "test")


@dataclasses.dataclass
class SyntheticSet:
    """A synthetic video data set (a ``datasets.<name>`` entry with ``source: synthetic``)."""

    objects: str = "finetune"  # an object group of the ``objects:`` section (not heldout_pretrain)
    labels: str = "motion"  # default labelling: motion | appearance | object_motion
    protocol: str = "closedset"  # closedset | zeroshot | retrieval
    splits: dict = dataclasses.field(default_factory=lambda: {"test": 64})
    motions: list = dataclasses.field(default_factory=lambda: list(MOTIONS))
    source: str = "synthetic"
    seed: int = 0
    descriptions: Optional[str] = None  # "synthetic": rephrased class descriptions (describe()) for FROSTER
    max_unreadable: float = DEFAULT_MAX_UNREADABLE  # read by training and evaluation (data/lost_videos.py)

    @classmethod
    def from_dict(cls, values, name: str) -> "SyntheticSet":
        from ..config import from_mapping

        spec = from_mapping(cls, values, f"datasets.{name}")
        unknown = set(spec.motions) - set(MOTIONS)
        if unknown:
            raise UserError(f"datasets.{name}.motions has unknown motion(s) {sorted(unknown)}; known: {MOTIONS}")
        bad = set(spec.splits) - set(SPLIT_ORDER)
        if bad:
            raise UserError(f"datasets.{name}.splits has unknown split(s) {sorted(bad)}; allowed: {SPLIT_ORDER}")
        return spec


def generate_set(
    world: World, spec: SyntheticSet, objects: Sequence[Object], out_dir: Path, seed: int, progress: bool = True
) -> List[dict]:
    """Render and write every video of ``spec``; returns manifest rows (with object, motion, caption columns).

    Each split cycles through all (object, motion) combinations in a seeded order, so classes are balanced;
    a retrieval set with no more videos than combinations has a unique caption per video.
    """
    from tqdm.auto import tqdm

    from .videos import write_video

    combos = [(o, m) for o in objects for m in spec.motions]
    classes = class_list(objects, spec.motions, spec.labels)
    rows = []
    for split in SPLIT_ORDER:
        count = spec.splits.get(split, 0)
        order = np.random.default_rng([seed, spec.seed, SPLIT_ORDER.index(split)]).permutation(len(combos))
        for i in tqdm(range(count), desc=f"render {out_dir.name}/{split}", disable=not progress):
            obj, motion = combos[order[i % len(combos)]]
            rng = np.random.default_rng([seed, spec.seed, SPLIT_ORDER.index(split), i, 1])
            path = Path(out_dir) / split / f"{i:05d}.mp4"
            write_video(path, render_video(world, obj, motion, rng))
            name = label_text(obj, motion, spec.labels)
            both = label_text(obj, motion, "object_motion")
            rows.append(
                {
                    "path": str(path),
                    "label": classes.index(name),
                    "classname": name,
                    "split": split,
                    "object": object_name(obj),
                    "motion": motion,
                    "object_motion": both,
                    "caption": f"a {both}",
                }
            )
    return rows
