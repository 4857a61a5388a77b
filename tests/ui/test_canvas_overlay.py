"""The mask overlay is composed off the GUI thread (issue 11, "never freeze"), and is still the same image.

Composing decodes and scans every shown mask at the video's size: on a 4K frame that froze the window
for a quarter of a second per render. These tests do not time anything; they check where the work
runs (a spy records the thread of every decode and compose) and that the result is what the
whole-frame composition gave.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QImage

from litlora_desktop.core.annotations.records import MaskRecord
from litlora_desktop.ui import canvas as canvas_module
from litlora_desktop.ui.canvas import Canvas
from litlora_desktop.ui.canvas_layers import compose_overlay
from litlora_desktop.workers.latest import LatestJob

pytestmark = pytest.mark.gui


def reference_overlay(masks, opacity: float, outline_only: bool) -> QImage | None:
    """The whole-frame composition the canvas used before it cropped each mask to its box."""
    if not masks:
        return None
    h, w = masks[0][2].shape
    rgba = np.zeros((h, w, 4), np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    alpha = round(255 * max(0.0, min(1.0, opacity)))
    for _, color, mask, selected in masks:
        m = np.asarray(mask, bool)
        if not m.any():
            continue
        if not outline_only and alpha:
            rgba[m] = (*color, alpha)
        edge = m & ~cv2.erode(m.view(np.uint8), kernel, iterations=2 if selected else 1).astype(bool)
        rgba[edge] = (*color, 255)
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).convertToFormat(
        QImage.Format.Format_ARGB32_Premultiplied
    )


def pixels(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    return np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine()).copy()


def sample_masks(h: int = 60, w: int = 90) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    blob = np.zeros((h, w), np.uint8)
    cv2.circle(blob, (30, 25), 14, 1, -1)
    corner = np.zeros((h, w), bool)
    corner[:12, w - 20 :] = True  # touches the top and right borders
    noise = rng.random((h, w)) > 0.7  # many small pieces, all over (and on every border)
    one_pixel = np.zeros((h, w), bool)
    one_pixel[h - 1, 0] = True
    overlapping = np.zeros((h, w), bool)
    overlapping[20:50, 25:70] = True
    return [blob.astype(bool), corner, noise, one_pixel, overlapping, np.zeros((h, w), bool)]


@pytest.mark.parametrize("outline_only", [False, True])
@pytest.mark.parametrize("opacity", [0.5, 0.0, 1.0])
def test_cropped_composition_is_the_whole_frame_composition(qapp, outline_only, opacity):
    colors = [(255, 0, 0), (0, 200, 0), (30, 60, 255), (200, 200, 0), (0, 200, 200), (9, 9, 9)]
    masks = [(i + 1, colors[i], m, i % 2 == 0) for i, m in enumerate(sample_masks())]
    want = reference_overlay(masks, opacity, outline_only)
    got = compose_overlay(masks, opacity, outline_only)
    assert np.array_equal(pixels(got), pixels(want))
    # records decode where they are composed, to the same image
    records = [(oid, c, MaskRecord.from_mask(m, "user"), sel) for oid, c, m, sel in masks]
    assert np.array_equal(pixels(compose_overlay(records, opacity, outline_only)), pixels(want))


@pytest.fixture
def spy(monkeypatch):
    """Records the thread of every mask decode and overlay composition."""
    seen: list[tuple[str, bool]] = []
    gui = threading.main_thread()
    decode, compose = MaskRecord.decode, canvas_module.compose_overlay

    def spying_decode(self):
        seen.append(("decode", threading.current_thread() is gui))
        return decode(self)

    def spying_compose(*args, **kwargs):
        seen.append(("compose", threading.current_thread() is gui))
        return compose(*args, **kwargs)

    monkeypatch.setattr(MaskRecord, "decode", spying_decode)
    monkeypatch.setattr(canvas_module, "compose_overlay", spying_compose)
    return seen


def test_canvas_composes_the_overlay_off_the_gui_thread(qtbot, spy):
    c = Canvas()
    qtbot.addWidget(c)
    m = np.zeros((40, 64), bool)
    m[5:20, 10:30] = True
    c.set_masks([(1, (255, 0, 0), MaskRecord.from_mask(m, "user"), True)])
    assert not [call for call in spy if call[1]], "set_masks decoded or composed on the GUI thread"
    assert c.overlay_pending  # the result is delivered by a queued call, so not before the loop runs
    qtbot.waitUntil(lambda: not c.overlay_pending)
    assert c._overlay is not None and c._overlay.pixelColor(20, 10).red() == 255
    assert ("compose", False) in spy and ("decode", False) in spy
    assert all(not on_gui for _, on_gui in spy), spy


def test_split_compare_is_composed_off_the_gui_thread(qtbot, spy):
    c = Canvas()
    qtbot.addWidget(c)
    left, right = np.zeros((40, 64), bool), np.zeros((40, 64), bool)
    left[5:20, 10:30] = True
    right[8:30, 12:40] = True
    c.set_compare(MaskRecord.from_mask(left, "sam2"), right, (0, 255, 0), "SAM2", "LoRA")
    assert not [call for call in spy if call[1]] and not c.comparing
    qtbot.waitUntil(lambda: c.comparing and not c.overlay_pending)
    assert all(not on_gui for _, on_gui in spy) and ("compose", False) in spy
    c.clear_compare()
    assert not c.comparing and not c.overlay_pending


def test_window_renders_the_shown_frame_without_decoding_on_the_gui_thread(
    qtbot, window_factory, tiny_model, spy
):
    w = window_factory(tiny_model)
    s = w.session
    s.add_object()
    m = np.zeros((48, 80), bool)
    m[10:30, 20:50] = True
    s.set_user_mask(1, 0, m, "Brush")
    spy.clear()
    w.presenter.render_now()
    assert not [call for call in spy if call[1]], (
        f"the presenter decoded or composed on the GUI thread: {spy}"
    )
    qtbot.waitUntil(lambda: not w.canvas.overlay_pending and w.canvas._overlay is not None)
    assert w.canvas._overlay.pixelColor(35, 20).alpha() > 0
    assert all(not on_gui for _, on_gui in spy)


def test_a_superseded_overlay_never_replaces_the_newer_one(qtbot, monkeypatch):
    """Stepping fast asks for many overlays; only the last one asked for may end up drawn."""
    c = Canvas()
    qtbot.addWidget(c)
    release = threading.Event()
    real = canvas_module.compose_overlay
    first = np.zeros((40, 64), bool)
    first[0:10, 0:10] = True
    second = np.zeros((40, 64), bool)
    second[30:40, 50:64] = True

    def slow_first(masks, opacity, outline_only):
        if masks[0][0] == 1:
            release.wait(10)  # still composing when the next frame's masks arrive
        return real(masks, opacity, outline_only)

    monkeypatch.setattr(canvas_module, "compose_overlay", slow_first)
    c.set_masks([(1, (255, 0, 0), first, True)])
    c.set_masks([(2, (0, 0, 255), second, True)])
    release.set()
    # results arrive in order: once the second is in, the first has been delivered (and dropped)
    qtbot.waitUntil(lambda: not c.overlay_pending)
    assert c._overlay.pixelColor(60, 35).blue() == 255
    assert c._overlay.pixelColor(5, 5).alpha() == 0


def test_latest_job_skips_the_requests_overtaken_before_they_started(qtbot):
    job = LatestJob("test")
    started = threading.Event()
    release = threading.Event()
    ran: list[str] = []
    done: list[tuple[int, object]] = []
    job.done.connect(lambda gen, result: done.append((gen, result)))

    def blocking() -> str:
        started.set()
        release.wait(10)
        ran.append("a")
        return "a"

    job.request(blocking)
    assert started.wait(10)
    job.request(lambda: ran.append("b") or "b")
    last = job.request(lambda: ran.append("c") or "c")
    release.set()
    qtbot.waitUntil(lambda: not job.busy and len(done) == 2)
    assert ran == ["a", "c"]
    assert done[-1] == (last, "c")


def test_the_same_records_again_are_not_composed_again(qtbot, spy):
    """A render with nothing new to draw (a click in flight, a candidate list) costs no composition."""
    c = Canvas()
    qtbot.addWidget(c)
    m = np.zeros((40, 64), bool)
    m[5:20, 10:30] = True
    masks = [(1, (255, 0, 0), MaskRecord.from_mask(m, "user"), True)]
    c.set_masks(masks)
    qtbot.waitUntil(lambda: not c.overlay_pending)
    composed = spy.count(("compose", False))
    c.set_masks(list(masks))
    assert not c.overlay_pending and spy.count(("compose", False)) == composed
    c.set_display(opacity=0.8)  # a different look is composed again
    assert c.overlay_pending
    qtbot.waitUntil(lambda: not c.overlay_pending)
    assert spy.count(("compose", False)) == composed + 1
