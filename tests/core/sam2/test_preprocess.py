"""The numbers of our torchvision-free preprocessing, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litlora_desktop.core.sam2.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    FrameNormalizer,
    logits_to_masks,
    mask_to_model,
    points_to_model,
    preprocess_frame,
    resize_frame,
)


def test_normalisation_matches_imagenet_formula():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 0, 128, 255
    out = FrameNormalizer()(rgb)
    assert out.shape == (3, 4, 4) and out.dtype == torch.float32
    for c, v in enumerate((0, 128, 255)):
        expect = (v / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert out[c].flatten().tolist() == pytest.approx([expect] * 16, abs=1e-5)


def test_frame_is_resized_square_without_padding():
    rgb = np.zeros((90, 160, 3), np.uint8)
    rgb[:, 80:] = 255  # right half white
    out = preprocess_frame(rgb, 64)
    assert out.shape == (3, 64, 64)
    white = (1.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]
    black = -IMAGENET_MEAN[0] / IMAGENET_STD[0]
    # no aspect padding: the white half fills exactly the right half of the square
    assert out[0, :, 34:].min() == pytest.approx(white, abs=1e-4)
    assert out[0, :, :30].max() == pytest.approx(black, abs=1e-4)


def test_resize_keeps_uint8_and_rejects_non_rgb():
    assert resize_frame(np.zeros((10, 20, 3), np.uint8), 16).shape == (16, 16, 3)
    assert resize_frame(np.zeros((2000, 3000, 3), np.uint8), 1024).dtype == np.uint8
    with pytest.raises(ValueError, match="RGB"):
        resize_frame(np.zeros((10, 20), np.uint8), 16)


def test_click_coordinates_scale_per_axis():
    pts = points_to_model([(0, 0), (1920, 1080), (960, 270)], width=1920, height=1080, image_size=1024)
    assert pts.tolist() == [[0, 0], [1024, 1024], [512, 256]]


def test_mask_prompt_is_resized_and_binary():
    m = np.zeros((100, 200), bool)
    m[:, :100] = True
    t = mask_to_model(m, 64)
    assert t.shape == (1, 1, 64, 64)
    assert set(t.unique().tolist()) <= {0.0, 1.0}
    assert t[0, 0, :, :31].all() and not t[0, 0, :, 33:].any()


def test_low_res_logits_upsample_to_video_size():
    low = torch.full((2, 1, 16, 16), -5.0)
    low[0, 0, :, 8:] = 5.0
    masks = logits_to_masks(low, image_size=64, height=30, width=50)
    assert masks.shape == (2, 30, 50) and masks.dtype == bool
    assert masks[0, :, 27:].all() and not masks[0, :, :23].any() and not masks[1].any()


def test_a_read_only_frame_is_normalised_without_torchs_warning():
    """Cached frames are read-only; a frame already at the model's size reaches the normaliser as is,
    and torch warned of "undefined behavior" in the log. Torch warns once per process, so a fresh one."""
    import subprocess
    import sys

    code = (
        "import warnings, numpy as np\n"
        "from litlora_desktop.core.sam2.preprocess import FrameNormalizer\n"
        "warnings.simplefilter('error')  # after the imports: only the call is judged\n"
        "frame = np.full((64, 64, 3), 128, np.uint8)\n"
        "frame.flags.writeable = False\n"
        "out = FrameNormalizer()(frame)\n"
        "assert tuple(out.shape) == (3, 64, 64)\n"
        "assert not frame.flags.writeable and (frame == 128).all()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
