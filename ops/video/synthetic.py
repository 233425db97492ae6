"""A synthetic, THUMOS14-like benchmark of real video files with exact ground truth.

What is drawn (every video, deterministic from ``(seed, subset, index)``):

- a textured grey background seen through a camera that pans smoothly
  (camera motion), with a few bluish rectangles drifting across it
  (background clutter);
- action instances: one actor (an orange disk with a dark core, identical for
  every class) moves along a class-specific path: ``MoveRight``,
  ``MoveLeft``, ``MoveUp``, ``MoveDown`` (a straight traverse of half the
  frame) or ``Orbit`` (one full circle).  A single frame shows only a disk
  somewhere: classes differ only by motion over time.  A complete action
  fades in (the disk grows from 40 % to full size over the first 15 % of the
  action) and fades out (shrinks over the last 15 %);
- distractors: the first or the last 25-45 % of an action (with its fade-in
  or fade-out) that then vanishes or appears abruptly.  They look like an
  action's start or end without being a complete action, so completeness
  matters.  They are not ground truth.

That is the ``motion`` family (dataset preset ``synthetic``).  The ``wave`` family (size presets
``*_wave``, dataset preset ``synthetic_wave``) draws a green square of a per-video size on a brown
background following ``Bounce``, ``Diagonal``, ``Shake``, ``Spiral`` or ``Zigzag`` (:data:`WAVE_PATHS`),
with the same fades, distractors, camera and clutter: defaults chosen on one family are checked on the other.

Instance durations are drawn log-uniformly over a range spanning 10x or more.
Times are frame-exact: an event drawn on frames ``[f0, f1)`` has
``t_start = f0 / fps`` and ``t_end = f1 / fps`` (fps divides 100, so the
2-decimal times in the annotation files are exact).

Outputs of ``gen_synthetic_dataset.py`` (``OUT`` is the output folder; the annotation files come from
:func:`write_annotations`, through the writers of :mod:`ops.formats.annotations`)::

    OUT/videos/video_{validation,test}_NNNNNNN.mp4
    OUT/videos/.seed.json                     seed and preset, written before the first video
    OUT/annotations/temporal_annotations_{validation,test}/<Class>_{val,test}.txt
    OUT/annotations/temporal_annotations_{validation,test}/Ambiguous_{val,test}.txt  (empty)
    OUT/annotations/detclasslist.txt          ids 1..K
    OUT/annotations/{validation,test}_durations.txt
    OUT/annotations.json                      the same ground truth, ActivityNet layout
    OUT/generation.json                       seed, config, every drawn event (frames)
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ops.errors import SetupError
from ops.formats.annotations import AnnotationDB, write_activitynet, write_thumos14
from ops.io import atomic_write_json
from ops.temporal import frames_to_seconds

logger = logging.getLogger(__name__)

CLASSES = ("MoveDown", "MoveLeft", "MoveRight", "MoveUp", "Orbit")  # alphabetical: THUMOS and JSON orders agree
SUBSETS = ("validation", "test")
ACTOR_RGB = (255, 128, 0)


@dataclass(frozen=True)
class Family:
    """What a dataset's actions look like: its classes (alphabetical), actor and background.

    ``dataset`` is the dataset preset (``data/<dataset>.json``) that lists the same classes; ``actor_size``
    the (min, max) actor radius as a fraction of the frame height, drawn once per video; ``tint`` multiplies
    the grey background's R, G, B."""

    name: str
    dataset: str
    classes: tuple
    shape: str                # "disk" | "square"
    actor_rgb: tuple
    core_rgb: tuple
    actor_size: tuple
    tint: tuple


FAMILIES = {
    # the demo's family: one orange disk that moves straight in four directions or orbits
    "motion": Family("motion", "synthetic", CLASSES, "disk", ACTOR_RGB, (60, 20, 0), (0.1, 0.1), (1.0, 1.0, 1.0)),
    # a second family to choose defaults across (issue 21): a green square of varying size on a brown
    # background, with oscillating and curved paths
    "wave": Family("wave", "synthetic_wave", ("Bounce", "Diagonal", "Shake", "Spiral", "Zigzag"), "square",
                   (40, 220, 90), (240, 240, 240), (0.06, 0.12), (1.0, 0.85, 0.65)),
}
FADE = 0.15          # fraction of an action spent fading in (and out)
MIN_SCALE = 0.4      # actor radius at the very start/end of a complete action


@dataclass(frozen=True)
class SynthConfig:
    """Size of a synthetic dataset.  Times in seconds, sizes in pixels."""

    num_videos: dict          # subset -> number of videos
    video_seconds: tuple      # (min, max) video duration
    fps: int                  # must divide 100 (exact 2-decimal times)
    width: int
    height: int
    instances: tuple          # (min, max) action instances per video
    instance_seconds: tuple   # (min, max) instance duration, max/min >= 10
    distractors: tuple        # (min, max) distractors per video
    min_gap: float = 0.5      # seconds between events
    family: str = "motion"    # key of FAMILIES


SIZE_PRESETS = {
    "tiny": SynthConfig({"validation": 4, "test": 4}, (10.0, 14.0), 10, 128, 96, (2, 3), (0.5, 5.0), (1, 1)),
    "demo": SynthConfig({"validation": 40, "test": 20}, (24.0, 40.0), 10, 160, 120, (2, 5), (0.8, 8.0), (1, 3)),
    "large": SynthConfig({"validation": 200, "test": 200}, (60.0, 120.0), 25, 320, 240, (3, 8), (1.0, 12.0), (2, 5)),
    # the second family: twice the frame rate, longer videos and instances (dataset preset synthetic_wave)
    "tiny_wave": SynthConfig({"validation": 4, "test": 4}, (10.0, 16.0), 20, 128, 96, (2, 3), (0.5, 5.0), (1, 1),
                             family="wave"),
    "demo_wave": SynthConfig({"validation": 40, "test": 20}, (16.0, 30.0), 20, 160, 120, (2, 4), (1.0, 10.0), (1, 3),
                             family="wave"),
}


@dataclass(frozen=True)
class Event:
    """One drawn actor appearance: frames ``[start_frame, end_frame)``.

    ``kind`` is ``action`` (ground truth), ``start`` or ``end`` (distractor
    fragments); ``label`` is the 1-based class whose path is followed;
    ``u0``/``u1`` the part of the path shown (0..1).
    """

    start_frame: int
    end_frame: int
    label: int
    kind: str
    u0: float
    u1: float


@dataclass(frozen=True)
class VideoSpec:
    video: str
    subset: str
    num_frames: int
    fps: int
    events: tuple
    seed: tuple
    family: str = "motion"

    @property
    def duration(self) -> float:
        """Seconds."""
        return float(frames_to_seconds(self.num_frames, self.fps))

    @property
    def actions(self) -> list[Event]:
        return [e for e in self.events if e.kind == "action"]


def video_name(subset: str, index: int) -> str:
    """THUMOS14-style video id, index 1-based."""
    return f"video_{subset}_{index:07d}"


# --------------------------------------------------------------------------- drawing the timeline


def _place_events(rng: np.random.Generator, cfg: SynthConfig, num_frames: int) -> tuple:
    """Draw actions and distractors and lay them out without overlap."""
    lo, hi = np.log(cfg.instance_seconds[0]), np.log(cfg.instance_seconds[1])
    n_act = int(rng.integers(cfg.instances[0], cfg.instances[1] + 1))
    n_dis = int(rng.integers(cfg.distractors[0], cfg.distractors[1] + 1))
    labels = rng.integers(1, len(FAMILIES[cfg.family].classes) + 1, size=n_act + n_dis)
    full = np.exp(rng.uniform(lo, hi, size=n_act + n_dis))           # seconds of the full action
    frac = np.concatenate([np.ones(n_act), rng.uniform(0.25, 0.45, size=n_dis)])
    kinds = ["action"] * n_act + list(rng.choice(["start", "end"], size=n_dis))
    lengths = np.maximum(2, np.round(full * frac * cfg.fps)).astype(int)
    order = rng.permutation(n_act + n_dis)
    gap = int(round(cfg.min_gap * cfg.fps))
    free = num_frames - lengths.sum() - gap * (len(order) + 1)
    while free < 0 and len(order) > 1:          # too crowded: drop the last drawn event
        order = order[:-1]
        free = num_frames - lengths[order].sum() - gap * (len(order) + 1)
    gaps = np.floor(rng.dirichlet(np.ones(len(order) + 1)) * max(free, 0)).astype(int) + gap
    events, cursor = [], 0
    for g, k in zip(gaps, order):
        start = cursor + int(g)
        u0, u1 = (0.0, 1.0) if kinds[k] == "action" else ((0.0, frac[k]) if kinds[k] == "start" else (1 - frac[k], 1.0))
        events.append(Event(start, start + int(lengths[k]), int(labels[k]), str(kinds[k]), float(u0), float(u1)))
        cursor = start + int(lengths[k])
    return tuple(events)


def make_video_spec(cfg: SynthConfig, seed: int, subset: str, index: int) -> VideoSpec:
    """Draw the timeline of one video (deterministic from seed, subset and index)."""
    key = (int(seed), SUBSETS.index(subset), int(index))
    rng = np.random.default_rng(key)
    num_frames = int(round(rng.uniform(*cfg.video_seconds) * cfg.fps))
    return VideoSpec(video_name(subset, index), subset, num_frames, cfg.fps, _place_events(rng, cfg, num_frames), key,
                     cfg.family)


# --------------------------------------------------------------------------- rendering


def _path_position(name: str, u: np.ndarray, origin: np.ndarray, width: int, height: int) -> np.ndarray:
    """Actor centre (N, 2) in pixels (x, y) at path progress ``u`` (N,) for class ``name`` of any family.

    Every path stays within 0.25 x width and 0.25 x height of ``origin``."""
    if name in WAVE_PATHS:
        return origin + WAVE_PATHS[name](u[:, None], width, height)
    half_w, half_h = 0.25 * width, 0.25 * height
    t = (u - 0.5)[:, None]
    if name == "MoveRight":
        return origin + t * np.array([2 * half_w, 0.0])
    if name == "MoveLeft":
        return origin - t * np.array([2 * half_w, 0.0])
    if name == "MoveDown":
        return origin + t * np.array([0.0, 2 * half_h])
    if name == "MoveUp":
        return origin - t * np.array([0.0, 2 * half_h])
    angle = 2 * np.pi * u[:, None]
    return origin + 0.22 * height * np.concatenate([np.cos(angle), np.sin(angle)], axis=1)


def _xy(x, y) -> np.ndarray:
    return np.concatenate(np.broadcast_arrays(x, y), axis=1)


# offsets (N, 2) from the origin at progress u (N, 1), the wave family's classes
WAVE_PATHS = {
    # two hops up and back down, in place
    "Bounce": lambda u, w, h: _xy(0 * u, 0.1 * h - 0.3 * h * np.abs(np.sin(2 * np.pi * u))),
    # a straight traverse down and to the right
    "Diagonal": lambda u, w, h: _xy((u - 0.5) * 0.5 * w, (u - 0.5) * 0.5 * h),
    # four quick left-right swings, in place
    "Shake": lambda u, w, h: _xy(0.12 * w * np.sin(8 * np.pi * u), 0 * u),
    # two turns inwards, clockwise on screen
    "Spiral": lambda u, w, h: (0.24 - 0.18 * u) * h * _xy(np.cos(4 * np.pi * u), np.sin(4 * np.pi * u)),
    # right to left with three up-down zigzags
    "Zigzag": lambda u, w, h: _xy((0.5 - u) * 0.5 * w, 0.12 * h * (2 * np.abs(2 * ((3 * u) % 1) - 1) - 1)),
}


def _actor_scale(u: np.ndarray) -> np.ndarray:
    """Radius factor: fade in over the first FADE of the path, fade out over the last."""
    ramp = np.minimum(np.minimum(u, 1 - u) / FADE, 1.0)
    return MIN_SCALE + (1 - MIN_SCALE) * np.clip(ramp, 0.0, 1.0)


def actor_track(spec: VideoSpec, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame actor centre (num_frames, 2) and radius (num_frames,); radius 0 = absent."""
    rng = np.random.default_rng(spec.seed + (1,))
    family = FAMILIES[spec.family]
    centre = np.zeros((spec.num_frames, 2))
    radius = np.zeros(spec.num_frames)
    low, high = family.actor_size
    base = (low if low == high else rng.uniform(low, high)) * height   # no draw for a fixed size: same stream
    for ev in spec.events:
        n = ev.end_frame - ev.start_frame
        # progress of the FULL action at each drawn frame (a fragment shows part of it)
        u = ev.u0 + (ev.u1 - ev.u0) * (np.arange(n) + 0.5) / n
        margin = np.array([0.32 * width, 0.35 * height])
        origin = rng.uniform(margin, np.array([width, height]) - margin)
        centre[ev.start_frame:ev.end_frame] = _path_position(family.classes[ev.label - 1], u, origin, width, height)
        radius[ev.start_frame:ev.end_frame] = base * _actor_scale(u)
    return centre, radius


class _Scene:
    """Background texture, camera path and clutter of one video."""

    def __init__(self, spec: VideoSpec, width: int, height: int):
        rng = np.random.default_rng(spec.seed + (2,))
        self.w, self.h = width, height
        self.pad = pad = max(8, width // 8)
        noise = rng.uniform(0, 1, size=((height + 2 * pad) // 4 + 1, (width + 2 * pad) // 4 + 1)).astype(np.float32)
        tex = cv2.resize(noise, ((width + 2 * pad) // 4 * 4 + 4, (height + 2 * pad) // 4 * 4 + 4),
                         interpolation=cv2.INTER_CUBIC)
        fine = rng.uniform(-12, 12, size=tex.shape).astype(np.float32)
        grey = np.clip(60 + 100 * tex + fine, 40, 170)
        self.texture = (grey[:, :, None] * np.array(FAMILIES[spec.family].tint)).astype(np.uint8)
        frames = np.arange(spec.num_frames) / spec.fps
        period, phase = rng.uniform(6, 14, size=2), rng.uniform(0, 2 * np.pi, size=2)
        amp = 0.4 * pad
        self.cam = np.stack([amp * np.sin(2 * np.pi * frames / period[k] + phase[k]) for k in range(2)], 1)
        n_clutter = int(rng.integers(2, 5))
        self.clutter_pos = rng.uniform([0, 0], [width, height], size=(n_clutter, 2))
        self.clutter_vel = rng.uniform(-0.6, 0.6, size=(n_clutter, 2)) * width / spec.fps / 4
        self.clutter_size = rng.uniform(0.06, 0.14, size=(n_clutter, 2)) * np.array([width, height])
        self.clutter_color = [tuple(int(c) for c in rng.integers([120, 60, 30], [230, 110, 70])[::-1])
                              for _ in range(n_clutter)]   # bluish (RGB), never orange

    def frame(self, i: int) -> np.ndarray:
        """Background + clutter of frame ``i`` (H, W, 3) uint8 RGB; camera offset applied."""
        ox, oy = (self.pad + self.cam[i]).astype(int)
        img = self.texture[oy:oy + self.h, ox:ox + self.w].copy()
        span = np.array([self.w, self.h])
        pos = (self.clutter_pos + i * self.clutter_vel) % span
        for (x, y), (sw, sh), col in zip(pos, self.clutter_size, self.clutter_color):
            cv2.rectangle(img, (int(x), int(y)), (int(x + sw), int(y + sh)), col, -1)
        return img

    def camera_offset(self, i: int) -> np.ndarray:
        return np.floor(self.pad + self.cam[i]) - self.pad


def render_frames(spec: VideoSpec, width: int, height: int):
    """Yield the video's frames, (height, width, 3) uint8 RGB, one by one."""
    scene = _Scene(spec, width, height)
    family = FAMILIES[spec.family]
    centre, radius = actor_track(spec, width, height)
    for i in range(spec.num_frames):
        img = scene.frame(i)
        if radius[i] > 0:
            # the actor lives in world coordinates: the panning camera moves it on screen too
            _draw_actor(img, family, centre[i] - scene.camera_offset(i), radius[i])
        yield img


def _draw_actor(img: np.ndarray, family: Family, centre: np.ndarray, radius: float) -> None:
    """The family's actor, its core 0.375 of its size, centred at ``centre`` (x, y pixels), in place."""
    c = np.round(centre * 16).astype(int)     # 4 fractional bits: sub-pixel motion stays smooth
    for size, colour in ((radius, family.actor_rgb), (radius * 0.375, family.core_rgb)):
        r = int(round(size * 16))
        if family.shape == "disk":
            cv2.circle(img, (int(c[0]), int(c[1])), r, colour, -1, cv2.LINE_AA, shift=4)
        else:
            corners = (c + r * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])).astype(np.int32)
            cv2.fillConvexPoly(img, corners, colour, cv2.LINE_AA, shift=4)


def actor_mask(frame_rgb: np.ndarray, family: str = "motion") -> np.ndarray:
    """Pixels of the actor's colour (the motion family's orange, the wave family's green) in a decoded frame
    (H, W) bool (survives mp4 compression; the backgrounds and clutter never pass)."""
    f = frame_rgb.astype(np.int16)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    if family == "wave":
        return (g > 170) & (g - r > 60) & (g - b > 60)
    return (r > 170) & (r - g > 50) & (b < 100)


def write_video(spec: VideoSpec, path: Path, width: int, height: int) -> None:
    """Render ``spec`` to an mp4 at ``path`` atomically (temp name, then rename)."""
    tmp = path.with_name(f".{path.stem}.partial.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (width, height))
    if not writer.isOpened():
        raise SetupError(f"OpenCV cannot write {tmp} (mp4v codec missing?)")
    try:
        for img in render_frames(spec, width, height):
            writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    os.replace(tmp, path)


# --------------------------------------------------------------------------- annotation files


def annotation_db(specs: list[VideoSpec]) -> AnnotationDB:
    """The ground truth of ``specs`` (one family): their actions (distractors are not ground truth), seconds,
    ids 1..K of the family's classes."""
    classes = FAMILIES[specs[0].family].classes if specs else CLASSES
    videos = [(s.video, s.subset, s.duration) for s in specs]
    instances = [(s.video, *frames_to_seconds([e.start_frame, e.end_frame], s.fps).tolist(), e.label, s.subset)
                 for s in specs for e in s.actions]
    return AnnotationDB.from_rows(classes, videos, instances, class_ids=list(range(1, len(classes) + 1)),
                                  name=FAMILIES[specs[0].family].dataset if specs else "synthetic")


def write_annotations(out_dir: Path, specs: list[VideoSpec], cfg: SynthConfig, seed: int, preset: str) -> None:
    """Write every annotation file (THUMOS14 layout, ActivityNet JSON, generation record)."""
    db = annotation_db(specs)
    for subset in SUBSETS:
        # 2 decimals: fps divides 100, so every frame time is exact
        write_thumos14(db, out_dir / "annotations", subset, decimals=2, video_ext=".mp4")
    write_activitynet(db, out_dir / "annotations.json", version="synthetic",
                      video_fields={s.video: {"fps": s.fps} for s in specs})
    record = {"seed": seed, "preset": preset, "family": cfg.family, "classes": list(FAMILIES[cfg.family].classes),
              "config": asdict(cfg),
              "videos": {s.video: {"subset": s.subset, "num_frames": s.num_frames, "fps": s.fps,
                                   "events": [asdict(e) for e in s.events]} for s in specs}}
    atomic_write_json(out_dir / GENERATION_NAME, record)


# Where a dataset's seed and preset are recorded: OUT/generation.json (with everything drawn, written after
# the last video) and OUT/videos/.seed.json (just seed and preset, written before the first video)
GENERATION_NAME = "generation.json"
SEED_MARKER = ".seed.json"


def write_seed_marker(video_dir: Path, seed: int, preset: str) -> None:
    """Record in ``video_dir`` which seed and preset its videos are drawn from (before writing any)."""
    atomic_write_json(Path(video_dir) / SEED_MARKER, {"seed": seed, "preset": preset})


def recorded_origin(path: Path) -> tuple | None:
    """(seed, preset) recorded in a generation.json or seed marker; None when the file does not exist.
    Raises ValueError when it is unreadable."""
    try:
        record = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    if not isinstance(record, dict):          # valid JSON, but not our record
        raise ValueError(f"holds a JSON {type(record).__name__}, not an object")
    return record.get("seed"), record.get("preset")


def read_generation_events(path: Path) -> dict:
    """Every drawn event of a ``generation.json`` (written by :func:`write_annotations`), in seconds.

    Returns ``{"classes": [...], "videos": {video: subset}, "fps": {video: fps}, "num_frames": {video: frames},
    "events": {column: (E,) array}}``
    with columns ``video``, ``subset``, ``kind`` (``action``, ``start`` or ``end``), ``label`` (1-based), ``t_start`` and
    ``t_end`` (seconds, ``frame / fps``), ``u0`` and ``u1`` (the part of the class's path shown, 0..1: 0 and 1 for
    an action).  Raises ValueError when the file is not such a record.
    """
    record = json.loads(Path(path).read_text())
    try:
        videos = record["videos"]
        rows = [(name, v["subset"], e["kind"], e["label"], e["start_frame"] / v["fps"], e["end_frame"] / v["fps"],
                 e["u0"], e["u1"]) for name, v in videos.items() for e in v["events"]]
        classes = list(record["classes"])
        fps = {name: v["fps"] for name, v in videos.items()}
        num_frames = {name: v["num_frames"] for name, v in videos.items()}
    except (KeyError, TypeError, AttributeError, ZeroDivisionError) as e:
        raise ValueError(f"not a generation record (no {e})") from None
    cols = list(zip(*rows)) if rows else [()] * 8
    events = {"video": np.asarray(cols[0], dtype=object), "subset": np.asarray(cols[1], dtype=object),
              "kind": np.asarray(cols[2], dtype=object), "label": np.asarray(cols[3], dtype=np.int64),
              "t_start": np.asarray(cols[4], dtype=np.float64), "t_end": np.asarray(cols[5], dtype=np.float64),
              "u0": np.asarray(cols[6], dtype=np.float64), "u1": np.asarray(cols[7], dtype=np.float64)}
    return {"classes": classes, "videos": {name: v["subset"] for name, v in videos.items()},
            "fps": fps, "num_frames": num_frames, "events": events}


def dataset_specs(cfg: SynthConfig, seed: int) -> list[VideoSpec]:
    """Every video's timeline, in subset order then index order."""
    return [make_video_spec(cfg, seed, subset, k)
            for subset in SUBSETS for k in range(1, cfg.num_videos[subset] + 1)]
