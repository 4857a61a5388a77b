"""Shape worlds: procedurally generated videos with exact ground truth, for training and testing SAM2.

The project trains its own small SAM2 (``litlora_desktop.training``) because no real weights reach the
machines it is built on. A model only learns what its data shows, so a `ShapeScene` packs the
difficulties of real footage into a few textured shapes: ellipses, polygons, smooth blobs and shapes
with thin parts; motion, rotation, scale change and non-rigid deformation; objects hiding each other
and passing behind foreground bars that are not objects; look-alike distractors; objects that leave
the frame and come back; camera pan and zoom, lighting change, blur and noise over varied backgrounds.

Every scene comes from a (split, index) seed. The splits keep data apart: the demo model trains on
``TRAIN`` only; its validation, the accuracy tests, the benchmarks, the evaluation sets and the app's
sample video use other splits, so nothing they measure was seen in training.

Ground-truth masks are visible (modal) masks, as in DAVIS: an object behind another object or a bar
has an empty mask there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from litlora_desktop.core.scenes.base import RenderedScene, fractal_noise, smooth_noise

__all__ = ["PRESETS", "SPLITS", "ShapeScene"]

SPLITS = {"train": 0, "validation": 1, "tests": 2, "benchmark": 3, "eval": 4, "sample": 5}
"""Seed domains. Training draws from ``train`` only; everything that measures uses another split."""

PRESETS = ("train", "sample", "hard")
"""``train``: short clips, everything at random; ``sample``: calm, well-separated objects (the app's
sample and the accuracy tests); ``hard``: long sequences with occlusion, look-alikes and appearance
change (the `litlora-eval` set, where SAM2 alone needs corrections)."""


@dataclass
class _Thing:
    """A moving textured shape: an object (id > 0) or a foreground bar (id 0, never annotated)."""

    obj_id: int
    texture: np.ndarray  # (S, S, 3) float32 RGB
    shape: np.ndarray  # (S, S) float32 in [0, 1]
    pos0: np.ndarray  # (2,) x, y world pixels at frame 0
    vel: np.ndarray  # (2,) pixels per frame
    amp: np.ndarray  # (2,) wobble amplitude, pixels
    freq: np.ndarray  # (2,) radians per frame
    phase: np.ndarray  # (2,)
    angle0: float
    spin: float  # degrees per frame
    scale_amp: float
    scale_freq: float
    warp: np.ndarray | None  # (2, S, S) float32 displacement field for non-rigid deformation
    warp_freq: float
    z: int
    tint_freq: float = 0.0  # appearance change: the texture's colours drift over time
    tint: np.ndarray | None = None

    def pose(self, k: float) -> tuple[float, float, float, float]:
        p = self.pos0 + self.vel * k + self.amp * np.sin(self.freq * k + self.phase)
        scale = 1.0 + self.scale_amp * math.sin(self.scale_freq * k)
        return float(p[0]), float(p[1]), self.angle0 + self.spin * k, scale


class ShapeScene(RenderedScene):
    """A deterministic, lazily rendered video of textured shapes with ground-truth masks.

    ``split`` is one of `SPLITS` and ``index`` picks the scene inside it. The interface is the one
    `FrameSource` readers and the evaluation use: ``num_frames``, ``height``, ``width``, ``fps``,
    ``frame(k)``, ``mask(obj_id, k)``, ``label_map(k)`` and ``object_ids``.
    """

    def __init__(
        self,
        index: int,
        *,
        split: str = "train",
        preset: str = "train",
        num_frames: int = 8,
        size: tuple[int, int] = (256, 256),
        fps: float = 24.0,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        h, w = (int(v) for v in size)
        if h < 32 or w < 32:
            raise ValueError(f"size must be at least 32x32 pixels, got {h}x{w} (height x width)")
        super().__init__(num_frames, h, w, fps)
        self.index, self.split, self.preset = int(index), split, preset
        rng = np.random.default_rng([SPLITS[split], PRESETS.index(preset), self.index])
        self._build(rng)

    @property
    def object_ids(self) -> list[int]:
        """Ids of every annotated object (look-alikes included), ascending."""
        return sorted(t.obj_id for t in self._things if t.obj_id > 0)

    def __repr__(self) -> str:
        return (
            f"ShapeScene({self.index}, split={self.split!r}, preset={self.preset!r}, "
            f"num_frames={self._num_frames}, size=({self._height}, {self._width}))"
        )

    # -- building ----------------------------------------------------------------------------------
    def _build(self, rng: np.random.Generator) -> None:
        h, w, m = self._height, self._width, min(self._height, self._width)
        p = self.preset
        hard, train = p == "hard", p == "train"
        n = self._num_frames
        # camera: pan (pixels per frame) and a slow zoom, over a background larger than the frame
        pan_speed = rng.uniform(0, 1.5 if train else 0.6) * m / 256
        pan_dir = rng.uniform(0, 2 * math.pi)
        self._pan = np.array([math.cos(pan_dir), math.sin(pan_dir)]) * pan_speed
        self._zoom_rate = rng.uniform(-0.01, 0.01) if (train or hard) and rng.random() < 0.5 else 0.0
        travel = np.abs(self._pan) * n + 8
        self._pad = (int(min(travel[1], 2 * h)) + 8, int(min(travel[0], 2 * w)) + 8)
        self._bg = _background(rng, h + 2 * self._pad[0], w + 2 * self._pad[1])
        # lighting and sensor
        self._gain = (rng.uniform(0.8, 1.15), rng.uniform(0, 0.2 if (train or hard) else 0.05))
        self._gain_freq = rng.uniform(0.02, 0.2)
        self._noise = rng.uniform(0, 8 if train else 4)
        self._blur_p = rng.uniform(0, 0.3) if train else (0.1 if hard else 0.0)

        if p == "sample":
            count = int(rng.integers(2, 4))
        elif hard:
            count = int(rng.integers(2, 4))
        else:
            count = int(rng.integers(1, 5))
        things: list[_Thing] = []
        centres = _spread_points(rng, count, h, w, min_dist=0.3 * m if p != "train" else 0.0)
        for i in range(count):
            r = rng.uniform(0.1, 0.17) * m if p == "sample" else rng.uniform(0.07, 0.22) * m
            things.append(self._object(rng, i + 1, r, centres[i], speed=self._speed(rng)))
        if count and (hard or (train and rng.random() < 0.3)):  # a look-alike of object 1
            src = things[0]
            twin = self._object(rng, count + 1, 1.0, _spread_points(rng, 1, h, w, 0)[0], self._speed(rng))
            twin.texture, twin.shape, twin.warp = src.texture, src.shape, src.warp
            twin.angle0 = src.angle0 + rng.uniform(30, 150)
            things.append(twin)
        if hard and things:  # the first object leaves and comes back / hides: strong wobble
            things[0].amp = np.array([0.45 * w, 0.15 * h]) * rng.uniform(0.8, 1.1)
            things[0].freq = np.array([2 * math.pi / max(n, 8), 2 * math.pi / max(n, 8) * 0.5])
            things[0].vel = np.zeros(2)
            things[0].tint_freq = rng.uniform(0.03, 0.08)
        bars = int(rng.integers(0, 3)) if train else (1 if hard else 0)
        for _ in range(bars):
            things.append(self._bar(rng))
        # z order: random for objects; bars always in front
        zs = rng.permutation(len(things))
        for t, z in zip(things, zs, strict=True):
            t.z = int(z) + (1000 if t.obj_id == 0 else 0)
        self._things = sorted(things, key=lambda t: t.z)

    def _speed(self, rng: np.random.Generator) -> float:
        m = min(self._height, self._width)
        hi = {"train": 6.0, "sample": 1.8, "hard": 3.0}[self.preset]
        return float(rng.uniform(0.3, hi) * m / 256)

    def _object(
        self, rng: np.random.Generator, oid: int, r: float, centre: np.ndarray, speed: float
    ) -> _Thing:
        kind = rng.choice(["ellipse", "polygon", "blob", "thin"], p=[0.25, 0.25, 0.3, 0.2])
        size = max(9, math.ceil(r * 2.8)) | 1
        shape = _shape(rng, str(kind), size, r)
        texture = _texture(rng, size)
        direction = rng.uniform(0, 2 * math.pi)
        deform = rng.random() < (0.5 if self.preset == "train" else 0.3)
        warp = _smooth_field(rng, size, cell=size / 3) * (r * rng.uniform(0.05, 0.15)) if deform else None
        n = max(self._num_frames, 8)
        return _Thing(
            obj_id=oid,
            texture=texture,
            shape=shape,
            pos0=np.asarray(centre, np.float64),
            vel=np.array([math.cos(direction), math.sin(direction)]) * speed * rng.uniform(0, 1),
            amp=rng.uniform(0, 0.12, 2) * np.array([self._width, self._height]),
            freq=rng.uniform(0.5, 2.0, 2) * 2 * math.pi / n,
            phase=rng.uniform(0, 2 * math.pi, 2),
            angle0=float(rng.uniform(0, 360)),
            spin=float(rng.uniform(-1, 1) * (4.0 if self.preset == "train" else 1.5)),
            scale_amp=float(rng.uniform(0, 0.25 if self.preset != "sample" else 0.1)),
            scale_freq=float(rng.uniform(0.5, 1.5) * math.pi / n),
            warp=warp,
            warp_freq=float(rng.uniform(0.1, 0.4)),
            z=0,
        )

    def _bar(self, rng: np.random.Generator) -> _Thing:
        h, w = self._height, self._width
        m = min(h, w)
        size = int(1.5 * max(h, w)) | 1
        thick = rng.uniform(0.05, 0.12) * m
        shape = np.zeros((size, size), np.float32)
        c = size // 2
        shape[:, int(c - thick / 2) : int(c + thick / 2) + 1] = 1.0
        texture = _texture(rng, size, muted=True)
        vertical = rng.random() < 0.6
        # it crosses the frame during the sequence
        n = max(self._num_frames, 2)
        start = np.array([rng.uniform(-0.1, 0.3) * w, h / 2]) if vertical else np.array([w / 2, -0.1 * h])
        end = np.array([rng.uniform(0.7, 1.1) * w, h / 2]) if vertical else np.array([w / 2, 1.1 * h])
        if rng.random() < 0.5:
            start, end = end, start
        return _Thing(
            obj_id=0,
            texture=texture,
            shape=shape,
            pos0=start,
            vel=(end - start) / n,
            amp=np.zeros(2),
            freq=np.zeros(2),
            phase=np.zeros(2),
            angle0=(0.0 if vertical else 90.0) + float(rng.uniform(-15, 15)),
            spin=0.0,
            scale_amp=0.0,
            scale_freq=0.0,
            warp=None,
            warp_freq=0.0,
            z=0,
        )

    # -- rendering ---------------------------------------------------------------------------------
    def _camera(self, k: int) -> np.ndarray:
        """2x3 affine from world (frame-0 frame coordinates) to frame k's pixels: pan, then zoom."""
        zoom = math.exp(self._zoom_rate * k)
        cx, cy = self._width / 2, self._height / 2
        off = -self._pan * k
        return np.array(
            [[zoom, 0, cx - zoom * cx + zoom * off[0]], [0, zoom, cy - zoom * cy + zoom * off[1]]]
        )

    def _draw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = self._height, self._width
        cam = self._camera(k)
        bg_cam = cam.copy()
        bg_cam[:, 2] -= cam[:, :2] @ np.array([self._pad[1], self._pad[0]], np.float64)
        frame = cv2.warpAffine(
            self._bg, bg_cam, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        frame = frame.astype(np.float32)
        labels = np.zeros((h, w), np.uint8)
        zoom = cam[0, 0]
        for t in self._things:
            x, y, angle, scale = t.pose(k)
            shape, tex = t.shape, t.texture
            if t.warp is not None:
                a = math.sin(t.warp_freq * k)
                size = shape.shape[0]
                gy, gx = np.mgrid[0:size, 0:size].astype(np.float32)
                mx, my = gx + a * t.warp[0], gy + a * t.warp[1]
                shape = cv2.remap(shape, mx, my, cv2.INTER_LINEAR, borderValue=0)
                tex = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            if t.tint_freq:
                s = 0.5 + 0.5 * math.sin(t.tint_freq * k)
                tex = tex * (1 - 0.6 * s) + tex[..., ::-1] * (0.6 * s)
            size = shape.shape[0]
            m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale * zoom)
            fx, fy = cam @ np.array([x, y, 1.0])
            m[:, 2] += (fx - size / 2, fy - size / 2)
            alpha = cv2.warpAffine(shape, m, (w, h), flags=cv2.INTER_LINEAR)
            inside = alpha > 0.5
            if not inside.any():
                continue
            img = cv2.warpAffine(tex, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            a3 = np.clip(alpha, 0, 1)[..., None]
            frame = frame * (1 - a3) + img * a3
            labels[inside] = t.obj_id
        # lighting: a global gain that drifts, and a soft gradient across the frame
        g0, g1 = self._gain
        gain = g0 * (1 + g1 * math.sin(self._gain_freq * k))
        ramp = np.linspace(1 - g1 / 2, 1 + g1 / 2, w, dtype=np.float32)[None, :, None]
        frame = frame * gain * ramp
        rng = np.random.default_rng([SPLITS[self.split], PRESETS.index(self.preset), self.index, k])
        if self._blur_p and rng.random() < self._blur_p:
            ksize = int(rng.integers(1, 3)) * 2 + 1
            frame = cv2.GaussianBlur(frame, (ksize, ksize), 0)
        if self._noise:
            frame = frame + rng.normal(0, self._noise, frame.shape).astype(np.float32)
        return np.clip(frame, 0, 255).astype(np.uint8), labels


# -- pieces ----------------------------------------------------------------------------------------


def _spread_points(rng: np.random.Generator, n: int, h: int, w: int, min_dist: float) -> list[np.ndarray]:
    """n points inside the frame's central area, at least ``min_dist`` apart when that is possible."""
    pts: list[np.ndarray] = []
    for _ in range(n):
        best, best_d = None, -1.0
        for _try in range(30):
            p = np.array([rng.uniform(0.18, 0.82) * w, rng.uniform(0.2, 0.8) * h])
            d = min((float(np.hypot(*(p - q))) for q in pts), default=1e9)
            if d >= min_dist:
                best = p
                break
            if d > best_d:
                best, best_d = p, d
        pts.append(best)
    return pts


def _smooth_field(rng: np.random.Generator, size: int, cell: float) -> np.ndarray:
    return np.stack([smooth_noise(rng, size, size, cell) * 2 - 1 for _ in range(2)]).astype(np.float32)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    px = np.array([[[h % 180, np.clip(s, 0, 255), np.clip(v, 0, 255)]]], np.uint8)
    return cv2.cvtColor(px, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _mix(pattern: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    return pattern[..., None] * c1 + (1 - pattern[..., None]) * c0


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Varied backgrounds: noise, stripes, gradients, cluttered blobs, tiles; often low-contrast."""
    kind = rng.choice(["noise", "stripes", "gradient", "clutter", "tiles"])
    base = rng.uniform(40, 200)
    hue = rng.uniform(0, 180)
    c0 = _hsv(hue, rng.uniform(0, 120), base - rng.uniform(10, 50))
    c1 = _hsv(hue + rng.uniform(-30, 30), rng.uniform(0, 150), base + rng.uniform(10, 50))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "stripes":
        th, period = rng.uniform(0, math.pi), rng.uniform(8, 40)
        pat = 0.5 + 0.5 * np.sin(2 * math.pi * (xx * math.cos(th) + yy * math.sin(th)) / period)
    elif kind == "gradient":
        th = rng.uniform(0, 2 * math.pi)
        pat = (xx * math.cos(th) + yy * math.sin(th)) / max(h, w)
        pat = (pat - pat.min()) / max(float(np.ptp(pat)), 1e-6)
    elif kind == "tiles":
        cell = rng.uniform(10, 40)
        pat = ((xx // cell + yy // cell) % 2).astype(np.float32) * 0.7 + 0.15
    else:
        pat = fractal_noise(rng, h, w, cell=rng.uniform(0.05, 0.3) * min(h, w))
    img = _mix(pat, c0, c1)
    img += 20 * (fractal_noise(rng, h, w, cell=6, octaves=2)[..., None] - 0.5)
    if kind == "clutter" or rng.random() < 0.3:  # background shapes: edges that are not objects
        for _ in range(int(rng.integers(3, 12))):
            col = _hsv(rng.uniform(0, 180), rng.uniform(20, 200), rng.uniform(40, 220))
            centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
            axes = (int(rng.uniform(4, 0.12 * min(h, w))), int(rng.uniform(4, 0.12 * min(h, w))))
            cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360, col.tolist(), -1, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator, size: int, muted: bool = False) -> np.ndarray:
    """Object textures: stripes, spots, noise or flat colour with grain, in two related colours."""
    hue = rng.uniform(0, 180)
    sat = rng.uniform(30, 120) if muted else rng.uniform(90, 255)
    c0 = _hsv(hue, sat, rng.uniform(40, 140))
    c1 = _hsv(hue + rng.uniform(10, 70), sat, rng.uniform(140, 255))
    kind = rng.choice(["stripes", "spots", "noise", "flat"], p=[0.3, 0.3, 0.25, 0.15])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "stripes":
        th, period = rng.uniform(0, math.pi), size / rng.uniform(2, 7)
        pat = 0.5 + 0.5 * np.sin(2 * math.pi * (xx * math.cos(th) + yy * math.sin(th)) / period)
    elif kind == "spots":
        pat = (fractal_noise(rng, size, size, cell=size / 5, octaves=3) > 0.55).astype(np.float32) * 0.8 + 0.1
    elif kind == "noise":
        pat = fractal_noise(rng, size, size, cell=size / rng.uniform(3, 8), octaves=3)
    else:
        pat = np.full((size, size), 0.3, np.float32)
    img = _mix(pat, c0, c1) + rng.normal(0, 6, (size, size, 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.float32)


def _shape(rng: np.random.Generator, kind: str, size: int, r: float) -> np.ndarray:
    """A filled shape of radius about r, centred in a size x size square, float32 in [0, 1]."""
    canvas = np.zeros((size, size), np.uint8)
    c = size / 2
    if kind == "ellipse":
        ax = (max(2, int(r)), max(2, int(r * rng.uniform(0.45, 1.0))))
        cv2.ellipse(canvas, (int(c), int(c)), ax, 0, 0, 360, 255, -1, cv2.LINE_AA)
    elif kind == "polygon":
        nv = int(rng.integers(3, 9))
        t = np.sort(rng.uniform(0, 2 * math.pi, nv))
        rad = r * rng.uniform(0.55, 1.0, nv)
        pts = np.stack([c + rad * np.cos(t), c + rad * np.sin(t)], 1)
        cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    else:
        t = np.linspace(0, 2 * math.pi, 128, endpoint=False)
        rad = np.ones_like(t)
        for harmonic in range(2, 6):
            rad += rng.uniform(0, 0.3 / harmonic * 2) * np.cos(harmonic * t + rng.uniform(0, 2 * math.pi))
        rad = r * rad / rad.max()
        pts = np.stack([c + rad * np.cos(t), c + rad * np.sin(t)], 1)
        cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        if kind == "thin":  # a limb or handle: one or two thin parts sticking out
            for _ in range(int(rng.integers(1, 3))):
                a = rng.uniform(0, 2 * math.pi)
                length = r * rng.uniform(0.9, 1.35)
                end = (int(c + length * math.cos(a)), int(c + length * math.sin(a)))
                cv2.line(
                    canvas, (int(c), int(c)), end, 255, max(2, int(r * rng.uniform(0.12, 0.22))), cv2.LINE_AA
                )
    return canvas.astype(np.float32) / 255.0
