"""What the project tests use: a fake video (a FrameSource), a blob mask, a project with masks."""

import numpy as np

from litlora_desktop.core.annotations.project import Project, default_project_path

H, W = 36, 48


class FakeVideo:
    """A FrameSource: deterministic frames, optionally tweaked to model a changed video."""

    def __init__(self, n=12, path=None, seed=0, noise=0):
        self.num_frames, self.width, self.height, self.path = n, W, H, path
        self._seed, self._noise = seed, noise

    def frame(self, k):
        rng = np.random.default_rng(self._seed * 1000 + k)
        f = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        if self._noise:
            f = np.clip(f.astype(int) + self._noise, 0, 255).astype(np.uint8)
        return f


def blob(cx, cy, r=7):
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def make_project(tmp_path, video):
    src = FakeVideo(path=video)
    proj = Project.create(default_project_path(video), video, src)
    a = proj.store.add_object("person", category="person")
    b = proj.store.add_object("ball")
    for f in range(6):
        proj.store.set_mask(f, a.id, blob(8 + f, 15), "sam2", score=0.9)
    proj.store.set_mask(2, b.id, blob(30, 20), "user", clicks=[(30, 20, True), (2, 2, False)])
    proj.store.set_mask(3, b.id, blob(31, 20), "lora:adapter-0")
    return proj, src
