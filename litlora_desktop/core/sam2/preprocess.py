"""Frame and prompt preprocessing for SAM2, written here because transformers' processors need torchvision.

The numbers follow transformers' ``Sam2VideoVideoProcessor`` / ``Sam2VideoProcessor``:

- a frame is resized to ``image_size`` x ``image_size`` (SAM2 video does not keep the aspect ratio and
  does not pad), scaled to [0, 1] and normalised with the ImageNet mean and std (SAM2, SAM2.1,
  EdgeTAM) or with mean = std = 0.5 (the SAM 3 tracker, as its ``Sam3ImageProcessor``); the family
  says which (``families.Family.mean`` / ``std``) and the model's config the size (1024, SAM 3 1008);
- a click at pixel (x, y) of a W x H frame goes to the model at (x * S / W, y * S / H);
- the decoder's low-resolution logits are upsampled to S x S and then to H x W (two bilinear steps,
  as ``post_process_masks`` does); a logit > 0 is foreground.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Label codes of SAM2's prompt encoder.
LABEL_NEGATIVE = 0
LABEL_POSITIVE = 1
LABEL_BOX_TOP_LEFT = 2
LABEL_BOX_BOTTOM_RIGHT = 3


def resize_frame(rgb: np.ndarray, image_size: int) -> np.ndarray:
    """Resize an RGB uint8 frame to the square model input on the CPU.

    Area interpolation when shrinking is the antialiased choice (plain bilinear aliases badly from
    1080p to 1024); bilinear when enlarging. Resizing uint8 on the CPU keeps the host-to-device
    copy four times smaller than copying floats.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB frame, got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    if (h, w) == (image_size, image_size):
        return np.ascontiguousarray(rgb)
    shrinking = h * w > image_size * image_size
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(rgb, (image_size, image_size), interpolation=interp)


class FrameNormalizer:
    """Turns resized uint8 frames into normalised model input on a device.

    ``(x / 255 - mean) / std`` is folded into one multiply-add per channel, done on the target device.
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        std = torch.tensor(std, dtype=torch.float32)
        mean = torch.tensor(mean, dtype=torch.float32)
        self._scale = (1.0 / (255.0 * std)).view(3, 1, 1).to(self.device)
        self._bias = (-mean / std).view(3, 1, 1).to(self.device)

    def __call__(self, resized_rgb: np.ndarray) -> torch.Tensor:
        """Return a (3, S, S) tensor ready for the image encoder."""
        rgb = np.ascontiguousarray(resized_rgb)
        if not rgb.flags.writeable:  # a cached frame already at the model's size: torch wants to own it
            rgb = rgb.copy()
        t = torch.from_numpy(rgb).to(self.device, non_blocking=True)
        t = t.permute(2, 0, 1).to(torch.float32)
        return (t * self._scale + self._bias).to(self.dtype)


def preprocess_frame(
    rgb: np.ndarray,
    image_size: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> torch.Tensor:
    """Resize and normalise one RGB uint8 frame into a (3, S, S) model input."""
    return FrameNormalizer(device, dtype, mean, std)(resize_frame(rgb, image_size))


def points_to_model(
    points: np.ndarray | list[tuple[float, float]], width: int, height: int, image_size: int
) -> np.ndarray:
    """Map pixel coordinates (x, y) of a W x H frame to the model's S x S input space."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2).copy()
    pts[:, 0] *= image_size / float(width)
    pts[:, 1] *= image_size / float(height)
    return pts


def mask_to_model(mask: np.ndarray, image_size: int) -> torch.Tensor:
    """Resize a boolean H x W mask to a (1, 1, S, S) float {0, 1} mask prompt.

    Antialiased bilinear resize then a 0.5 threshold, as transformers' processor does for mask inputs.
    """
    m = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None, None]
    if m.shape[-2:] != (image_size, image_size):
        m = F.interpolate(
            m, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True
        )
        m = (m >= 0.5).float()
    return m


def upsample_logits(low_res: torch.Tensor, image_size: int, height: int, width: int) -> torch.Tensor:
    """Upsample (N, 1, h, w) low-resolution logits to (N, H, W) float logits at video resolution."""
    x = low_res.float()
    if x.shape[-2:] != (image_size, image_size):  # candidates arrive already at S x S
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    if (height, width) != (image_size, image_size):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return x[:, 0]


def logits_to_masks(low_res: torch.Tensor, image_size: int, height: int, width: int) -> np.ndarray:
    """Boolean (N, H, W) masks at video resolution from low-resolution logits."""
    return (upsample_logits(low_res, image_size, height, width) > 0).cpu().numpy()
