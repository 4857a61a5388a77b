"""Synthetic videos with exact ground truth, generated on demand and never downloaded.

Tests, benchmarks, the app's sample video and the evaluation dataset all need videos whose true
masks are known. A `SyntheticScene` renders frame k and its masks from a seed when asked, so a
2,000-frame scene costs a few hundred kilobytes, not gigabytes. Objects carry their own texture
(SAM-like models see little in flat colour) and keep it over time, moved, slowly rotated and scaled,
so that a correction learnt on a few frames applies to later ones.

Ground-truth masks are *visible* (modal) masks, as in DAVIS / YouTube-VOS: an object hidden behind
another has an empty mask for those frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from litlora_desktop.core.scenes.base import RenderedScene, fractal_noise
from litlora_desktop.core.video.sources import FrameSource, check_index

__all__ = ["SCENARIOS", "SceneVideoSource", "SyntheticScene", "render"]

SCENARIOS = ("basic", "occlusion", "split", "distractor", "mixed")
"""`mixed` combines an occlusion and a split; the app's sample video uses it."""


@dataclass(frozen=True)
class _Sprite:
    """An object's appearance in its own coordinates: a texture and the shape cut out of it."""

    texture: np.ndarray  # (S, S, 3) uint8 RGB, covers the whole square
    shape: np.ndarray  # (S, S) uint8, 255 inside the object


@dataclass(frozen=True)
class _Motion:
    """A smooth path: centre(u) = centre + velocity*(u - 0.5) + amplitude*sin(2*pi*freq*u + phase).

    u runs from 0 (first frame) to 1 (last frame), so every scenario's events (occlusion, split)
    happen at the same relative time whatever the length of the video.
    """

    centre: tuple[float, float]
    velocity: tuple[float, float] = (0.0, 0.0)
    amplitude: tuple[float, float] = (0.0, 0.0)
    freq: tuple[float, float] = (1.0, 1.0)
    phase: tuple[float, float] = (0.0, 0.0)
    angle0: float = 0.0  # degrees
    spin: float = 0.0  # degrees over the whole video
    scale_wobble: float = 0.0  # scale = 1 + scale_wobble * sin(pi * u)
    leader: _Motion | None = None  # when set, circle the leader's centre at `orbit` pixels instead
    orbit: float = 0.0

    def pose(self, u: float) -> tuple[float, float, float, float]:
        """Centre x, centre y (pixels), angle (degrees) and scale at relative time u."""
        angle, scale = self.angle0 + self.spin * u, 1.0 + self.scale_wobble * math.sin(math.pi * u)
        if self.leader is not None:
            lx, ly, _, _ = self.leader.pose(u)
            a = math.pi * (0.15 + 0.7 * u)  # a little over half a turn around the leader
            return lx + self.orbit * math.cos(a), ly - self.orbit * math.sin(a), angle, scale
        x, y = (
            c + v * (u - 0.5) + a * math.sin(2 * math.pi * f * u + p)
            for c, v, a, f, p in zip(
                self.centre, self.velocity, self.amplitude, self.freq, self.phase, strict=True
            )
        )
        return x, y, angle, scale


@dataclass(frozen=True)
class _Object:
    obj_id: int
    sprite: _Sprite
    motion: _Motion
    z: int  # larger is nearer the camera
    split_at: float | None = None  # u at which the object starts to come apart
    split_distance: float = 0.0  # offset of each half from the centre at u = 1, pixels


class SyntheticScene(RenderedScene):
    """A deterministic, lazily rendered video with ground-truth masks.

    Parameters
    ----------
    num_frames:
        Length of the video.
    size:
        ``(height, width)`` in pixels, at least 32 each.
    seed:
        Everything random (textures, shapes, phases) comes from this seed.
    scenario:
        One of `SCENARIOS`: ``basic`` (three moving objects), ``occlusion`` (object 1 passes
        behind object 2 and reappears), ``split`` (object 1 splits into two halves that drift
        apart; its mask is both halves), ``distractor`` (object 2 is a look-alike of object 1 that
        stays near it), ``mixed`` (occlusion of 1 behind 2, and object 3 splits).
    fps:
        Frame rate reported to players and writers.
    """

    def __init__(
        self,
        num_frames: int,
        size: tuple[int, int] = (270, 480),
        seed: int = 0,
        scenario: str = "basic",
        fps: float = 24.0,
    ) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        height, width = (int(v) for v in size)
        if height < 32 or width < 32:
            raise ValueError(f"size must be at least 32x32 pixels, got {height}x{width} (height x width)")
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        super().__init__(num_frames, height, width, fps)
        self.seed = int(seed)
        self.scenario = scenario
        rng = np.random.default_rng([self.seed, SCENARIOS.index(scenario)])
        self._pad = max(4, min(height, width) // 12)
        self._background = _background_texture(rng, height + 2 * self._pad, width + 2 * self._pad)
        self._bg_phase = rng.uniform(0, 2 * math.pi, size=2)
        self._objects, self.target_id = _build_scenario(scenario, rng, height, width)
        self._objects.sort(key=lambda o: o.z)

    @property
    def object_ids(self) -> list[int]:
        """Ids of every object with ground truth, ascending (distractors included)."""
        return sorted(o.obj_id for o in self._objects)

    def __repr__(self) -> str:
        return (
            f"SyntheticScene(num_frames={self._num_frames}, size=({self._height}, {self._width}), "
            f"seed={self.seed}, scenario={self.scenario!r})"
        )

    def _draw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        u = k / (self._num_frames - 1) if self._num_frames > 1 else 0.0
        h, w, pad = self._height, self._width, self._pad
        # Slow camera pan over a larger background: the background moves too, as in real footage.
        ox = round(pad * (1 + 0.9 * math.sin(2 * math.pi * 0.5 * u + self._bg_phase[0])))
        oy = round(pad * (1 + 0.9 * math.sin(2 * math.pi * 0.35 * u + self._bg_phase[1])))
        frame = self._background[oy : oy + h, ox : ox + w].copy()
        labels = np.zeros((h, w), np.uint8)
        for obj in self._objects:  # back to front
            for tex, inside, (y0, x0) in _place_object(obj, u, h, w):
                roi = (slice(y0, y0 + inside.shape[0]), slice(x0, x0 + inside.shape[1]))
                frame[roi][inside] = tex[inside]
                labels[roi][inside] = obj.obj_id
        return frame, labels


def render(scene: SyntheticScene) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """All frames (T, H, W, 3) uint8 and masks {obj_id: (T, H, W) bool}; only for short scenes."""
    frames = np.empty((scene.num_frames, scene.height, scene.width, 3), np.uint8)
    labels = np.empty((scene.num_frames, scene.height, scene.width), np.uint8)
    for k in range(scene.num_frames):
        frames[k] = scene.frame(k)
        labels[k] = scene.label_map(k)
    return frames, {obj_id: labels == obj_id for obj_id in scene.object_ids}


# -- textures and shapes --------------------------------------------------------------------------


def _colourise(noise: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    return noise[..., None] * c1[None, None] + (1 - noise[..., None]) * c0[None, None]


def _background_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Muted, low-contrast, large-grained texture: clearly different from the objects."""
    base = rng.uniform(70, 150, size=3).astype(np.float32)
    c0, c1 = base - rng.uniform(15, 35, 3), base + rng.uniform(15, 35, 3)
    img = _colourise(fractal_noise(rng, h, w, cell=min(h, w) / 5), c0, c1)
    img += 12 * (fractal_noise(rng, h, w, cell=6, octaves=2)[..., None] - 0.5)
    img += rng.normal(0, 3, size=(h, w, 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _object_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Saturated colours, stripes and spots with fine grain: something a matcher can lock onto."""
    hue = rng.uniform(0, 180)
    c0 = _hsv_to_rgb(hue, rng.uniform(150, 230), rng.uniform(60, 110))
    c1 = _hsv_to_rgb((hue + rng.uniform(20, 60)) % 180, rng.uniform(170, 255), rng.uniform(190, 255))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    theta, period = rng.uniform(0, math.pi), size / rng.uniform(3, 6)
    stripes = 0.5 + 0.5 * np.sin(2 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / period)
    spots = fractal_noise(rng, size, size, cell=size / 6, octaves=3)
    pattern = np.clip(0.55 * stripes + 0.75 * (spots > 0.55) + 0.25 * spots - 0.2, 0, 1)
    img = _colourise(pattern, c0, c1)
    img += rng.normal(0, 8, size=(size, size, 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    hsv = np.array([[[h, s, v]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _blob_shape(rng: np.random.Generator, size: int, radius: float) -> np.ndarray:
    """A smooth, irregular closed shape: r(t) = R (1 + a2 cos 2t + a3 cos 3t)."""
    t = np.linspace(0, 2 * math.pi, 96, endpoint=False)
    a2, a3 = rng.uniform(0.08, 0.16), rng.uniform(0.03, 0.08)
    p2, p3 = rng.uniform(0, 2 * math.pi, 2)
    r = radius * (1 + a2 * np.cos(2 * t + p2) + a3 * np.cos(3 * t + p3)) / (1 + a2 + a3)
    pts = np.stack([size / 2 + r * np.cos(t), size / 2 + r * np.sin(t)], axis=1)
    shape = np.zeros((size, size), np.uint8)
    cv2.fillPoly(shape, [np.round(pts * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    return np.where(shape > 127, 255, 0).astype(np.uint8)


def _rounded_square(size: int, half: float) -> np.ndarray:
    shape = np.zeros((size, size), np.uint8)
    c, corner = size / 2, half * 0.25
    lo, hi = round(c - half + corner), round(c + half - corner)
    cv2.rectangle(shape, (lo, round(c - half)), (hi, round(c + half)), 255, -1)
    cv2.rectangle(shape, (round(c - half), lo), (round(c + half), hi), 255, -1)
    for x in (lo, hi):
        for y in (lo, hi):
            cv2.circle(shape, (x, y), round(corner), 255, -1)
    return shape


def _sprite(rng: np.random.Generator, radius: float, square: bool = False) -> _Sprite:
    size = math.ceil(radius * 2.6) | 1
    shape = _rounded_square(size, radius) if square else _blob_shape(rng, size, radius)
    return _Sprite(texture=_object_texture(rng, size), shape=shape)


# -- placing objects ------------------------------------------------------------------------------


def _place_object(
    obj: _Object, u: float, h: int, w: int
) -> list[tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    """Warp each part of the object into the frame: [(texture ROI, inside ROI, (y0, x0))]."""
    x, y, angle, scale = obj.motion.pose(u)
    size = obj.sprite.shape.shape[0]
    m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    m[:, 2] += (x - size / 2, y - size / 2)
    if obj.split_at is None or u <= obj.split_at:
        parts = [(obj.sprite.shape, 0.0)]
    else:
        # Each half moves away from the other along the object's own x axis, easing in and out.
        s = min(1.0, (u - obj.split_at) / max(1e-6, 0.8 - obj.split_at))
        d = obj.split_distance * s * s * (3 - 2 * s)
        left, right = obj.sprite.shape.copy(), obj.sprite.shape.copy()
        left[:, size // 2 :] = 0
        right[:, : size // 2] = 0
        parts = [(left, -d), (right, d)]
    axis = m[:, 0] / max(float(np.hypot(*m[:, 0])), 1e-6)
    out = []
    for shape, offset in parts:
        mp = m.copy()
        mp[:, 2] += axis * offset
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ mp.T
        x0, y0 = (max(0, math.floor(v) - 1) for v in corners.min(axis=0))
        x1, y1 = min(w, math.ceil(corners[:, 0].max()) + 1), min(h, math.ceil(corners[:, 1].max()) + 1)
        if x1 <= x0 or y1 <= y0:
            continue  # entirely outside the frame
        mp[:, 2] -= (x0, y0)
        tex = cv2.warpAffine(obj.sprite.texture, mp, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
        inside = cv2.warpAffine(shape, mp, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR) > 127
        out.append((tex, inside, (y0, x0)))
    return out


def _build_scenario(scenario: str, rng: np.random.Generator, h: int, w: int) -> tuple[list[_Object], int]:
    """Objects of a scenario, in pixels of an h x w frame, and the id the scenario is about."""
    m = min(h, w)

    def ph() -> tuple[float, float]:
        return (float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi)))

    def wander(cx: float, cy: float, ax: float, ay: float, **kw: float) -> _Motion:
        return _Motion(
            centre=(cx * w, cy * h),
            amplitude=(ax * w, ay * h),
            freq=(float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.5, 0.9))),
            phase=ph(),
            angle0=float(rng.uniform(-20, 20)),
            spin=float(rng.choice([-1, 1]) * rng.uniform(15, 30)),
            scale_wobble=float(rng.uniform(0.05, 0.1)),
            **kw,
        )

    def crossing(y: float, x_from: float, x_to: float) -> _Motion:
        # Straight and level, so that the occluder's inscribed circle can hide it entirely.
        return _Motion(
            centre=((x_from + x_to) / 2 * w, y * h),
            velocity=((x_to - x_from) * w, 0.0),
            angle0=float(rng.uniform(-20, 20)),
            spin=float(rng.uniform(10, 20)),
            scale_wobble=0.05,
        )

    def occluder(cx: float, cy: float) -> _Motion:
        return _Motion(centre=(cx * w, cy * h), amplitude=(0.0, 0.02 * h), phase=ph(), spin=10.0)

    if scenario == "basic":
        objs = [
            _Object(1, _sprite(rng, 0.13 * m), wander(0.28, 0.35, 0.08, 0.07, velocity=(0.1 * w, 0.0)), z=1),
            _Object(2, _sprite(rng, 0.11 * m), wander(0.72, 0.62, 0.09, 0.09), z=2),
            _Object(3, _sprite(rng, 0.09 * m), wander(0.35, 0.81, 0.08, 0.03), z=3),
        ]
        return objs, 1
    if scenario == "occlusion":
        objs = [
            _Object(1, _sprite(rng, 0.09 * m), crossing(0.5, 0.12, 0.88), z=1),
            _Object(2, _sprite(rng, 0.24 * m, square=True), occluder(0.5, 0.5), z=2),
        ]
        return objs, 1
    if scenario == "split":
        r = 0.15 * m
        objs = [
            _Object(
                1,
                _sprite(rng, r),
                wander(0.4, 0.42, 0.04, 0.05, velocity=(0.15 * w, 0.0)),
                z=1,
                split_at=0.35,
                split_distance=0.6 * r,
            ),
            _Object(2, _sprite(rng, 0.09 * m), wander(0.8, 0.8, 0.07, 0.05), z=2),
        ]
        return objs, 1
    if scenario == "distractor":
        r = 0.11 * m
        target = _sprite(rng, r)
        motion = wander(0.4, 0.5, 0.1, 0.12)
        # Same texture and shape, a different pose: a look-alike, never overlapping the target.
        lookalike = _Motion(
            centre=motion.centre,
            angle0=motion.angle0 + 30,
            spin=-motion.spin,
            scale_wobble=motion.scale_wobble,
            leader=motion,
            orbit=0.33 * m,
        )
        objs = [_Object(1, target, motion, z=1), _Object(2, target, lookalike, z=2)]
        return objs, 1
    # mixed: the sample video
    r_split = 0.12 * m
    objs = [
        _Object(1, _sprite(rng, 0.07 * m), crossing(0.36, 0.1, 0.9), z=1),
        _Object(2, _sprite(rng, 0.2 * m, square=True), occluder(0.5, 0.36), z=2),
        _Object(
            3,
            _sprite(rng, r_split),
            wander(0.55, 0.76, 0.03, 0.03, velocity=(-0.4 * w, 0.0)),
            z=3,
            split_at=0.45,
            split_distance=0.6 * r_split,
        ),
    ]
    return objs, 1


class SceneVideoSource(FrameSource):
    """A `SyntheticScene` as a FrameSource, rendered on demand: long test videos in little memory."""

    def __init__(self, scene: SyntheticScene, name: str | None = None) -> None:
        self.scene = scene
        self._name = name or f"synthetic-{scene.scenario}-{scene.seed}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def num_frames(self) -> int:
        return self.scene.num_frames

    @property
    def width(self) -> int:
        return self.scene.width

    @property
    def height(self) -> int:
        return self.scene.height

    @property
    def fps(self) -> float:
        return self.scene.fps

    def frame(self, index: int) -> np.ndarray:
        return self.scene.frame(check_index(index, self.num_frames, self._name))
