"""Ground-truth masks of a generated video, kept as a small file (COCO RLE per object and frame).

The sample video's ground truth lives in the repository (``resources/sample/ground_truth.json``), so
the accuracy tests measure against a fixed answer: if the scene generator ever changed, a test that
compares the generator with this file says so, instead of the answer silently moving with it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from litlora_desktop.core.annotations.rle import encode_mask


def centre_point(mask: np.ndarray) -> tuple[float, float]:
    """Where a person clicks to pick an object: its most interior point (x, y), borders padded."""
    padded = np.pad(np.asarray(mask, bool).astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y)


class GroundTruth:
    """Masks by (object id, frame), decoded on demand."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.scene: str = data["scene"]
        self.height, self.width = (int(v) for v in data["size"])
        self.num_frames = int(data["num_frames"])
        self._rle: dict[int, list[str]] = {int(k): v for k, v in data["objects"].items()}

    @property
    def object_ids(self) -> list[int]:
        return sorted(self._rle)

    def mask(self, obj_id: int, k: int) -> np.ndarray:
        """(H, W) bool mask of object ``obj_id`` on frame ``k``."""
        rle = {"size": [self.height, self.width], "counts": self._rle[obj_id][k].encode("ascii")}
        return mask_utils.decode(rle).astype(bool)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> GroundTruth:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    @staticmethod
    def of_scene(scene: Any) -> dict[str, Any]:
        """The file's content for a scene with ``mask(obj_id, k)`` (e.g. a `ShapeScene`)."""
        objects = {
            str(oid): [encode_mask(scene.mask(oid, k))[2] for k in range(scene.num_frames)]
            for oid in scene.object_ids
        }
        return {
            "scene": repr(scene),
            "size": [scene.height, scene.width],
            "num_frames": scene.num_frames,
            "objects": objects,
        }

    @classmethod
    def write(cls, scene: Any, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.write_text(json.dumps(cls.of_scene(scene), separators=(",", ":")), encoding="utf-8")
        return path
