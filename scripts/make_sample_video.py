"""Write the app's sample video (resources/sample/sample.mp4): deterministic, generated, never downloaded.

The app creates it on first start too (``ensure_sample_video``); run this to (re)make it by hand:

    .venv/bin/python scripts/make_sample_video.py [--out PATH] [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from litlora_desktop.core.scenes.ground_truth import GroundTruth  # noqa: E402
from litlora_desktop.core.scenes.sample import ensure_sample_video, sample_scene  # noqa: E402

DEFAULT_OUT = ROOT / "resources" / "sample" / "sample.mp4"
GROUND_TRUTH = ROOT / "resources" / "sample" / "ground_truth.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    parser.add_argument("--force", action="store_true", help="rewrite the file even if it exists")
    parser.add_argument(
        "--ground-truth",
        action="store_true",
        help=f"also rewrite the kept ground truth ({GROUND_TRUTH.name})",
    )
    args = parser.parse_args(argv)
    if args.force:
        args.out.unlink(missing_ok=True)
    path = ensure_sample_video(args.out)
    scene = sample_scene()
    if args.ground_truth:
        GroundTruth.write(scene, GROUND_TRUTH)
        print(f"{GROUND_TRUTH}: ground truth of {len(scene.object_ids)} objects")
    print(
        f"{path}: {scene.num_frames} frames, {scene.width}x{scene.height} at {scene.fps:g} fps, "
        f"{path.stat().st_size / 1024:.0f} KiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
