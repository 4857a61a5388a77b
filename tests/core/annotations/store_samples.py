"""What the annotation store tests draw: a frame size and a blob mask on it."""

import numpy as np

H, W = 48, 64


def blob(cx: int, cy: int, r: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + ((yy - cy) * 1.5) ** 2 <= r * r
