"""What the format tests export and compare: three objects over eight frames of a fake video."""

import numpy as np

from litlora_desktop.core.annotations.store import AnnotationStore

H, W, N = 40, 56, 8


def ellipse(cx, cy, rx, ry):
    yy, xx = np.mgrid[:H, :W]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


class FakeVideo:
    num_frames, width, height, fps = N, W, H, 10.0

    def frame(self, k):
        f = np.zeros((H, W, 3), np.uint8)
        f[:, :, 1] = 40 + 10 * k
        return f


def sample_store() -> AnnotationStore:
    """Three objects, no overlaps: a moving blob with a hole, a ball with a gap, a two-part object."""
    s = AnnotationStore(H, W, num_frames=N)
    person = s.add_object("person A", (200, 10, 10), "person")
    ball = s.add_object("ball", (10, 200, 10), "ball")
    pair = s.add_object("twins", (10, 10, 200), "person")
    for f in range(6):
        m = ellipse(10 + f, 12, 7, 9)
        if f == 2:
            m &= ~ellipse(10 + f, 12, 2, 3)  # a hole
        s.set_mask(f, person.id, m, "sam2" if f else "user", clicks=[(10, 12, True)], score=0.8)
    for f in (1, 2, 5, 6, 7):
        s.set_mask(f, ball.id, ellipse(40, 8 + f, 4, 4), "lora:a0")
    for f in range(N):
        m = ellipse(30, 32, 4, 4) | ellipse(46, 32, 3, 5) if f != 6 else np.zeros((H, W), bool)
        s.set_mask(f, pair.id, m, "imported")
    return s


def same_masks(a: AnnotationStore, b: AnnotationStore, skip_empty=True):
    """Every non-empty (frame, object) mask of `a` is in `b` (matched by object name) and vice versa."""

    def table(s):
        out = {}
        for f, oid, rec in s.iter_records():
            if rec.area or not skip_empty:
                out[(f, s.object(oid).name)] = rec.decode()
        return out

    ta, tb = table(a), table(b)
    assert sorted(ta) == sorted(tb)
    for k in ta:
        np.testing.assert_array_equal(ta[k], tb[k], err_msg=str(k))
