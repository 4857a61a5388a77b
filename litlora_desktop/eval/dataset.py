"""DAVIS-layout datasets for the simulated-annotator evaluation (DAVIS 2017, MOSE, YouTube-VOS, SA-V).

Layout::

    ROOT/JPEGImages[/480p]/<sequence>/<frame>.jpg
    ROOT/Annotations[/480p]/<sequence>/<frame>.png          one palette PNG per frame (0 = background)
    ROOT/Annotations/<sequence>/<object>/<frame>.png        or one folder of binary PNGs per object (SA-V)

SA-V's own folder names (``JPEGImages_24fps``, ``Annotations_6fps``) are found too. An annotation
belongs to the frame whose image has the same file stem, so sparse ground truth (SA-V annotates every
4th frame) is simply "no ground truth on the other frames": those frames are tracked, never scored.

Ground truth is read lazily, one frame at a time: an SA-V video at 1080p with many objects would not
fit in memory as boolean masks. OpenCV expands palette PNGs to colours, so the file's own palette
(its PLTE chunk) maps the colours back to label indices; no imaging library beyond OpenCV is needed.
Label 255 is "void" in VOS datasets and is never an object, except in black-and-white (0/255) masks
as many tools write them: a sequence whose PNGs hold only 0 and 255 is one object, 255. Otherwise void
is exposed per frame (``EvalSequence.frame_truth``) so that scoring and the annotator can ignore it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from litlora_desktop.core.annotations.formats.davis import GRAY_THRESHOLD, grayscale_reading
from litlora_desktop.core.annotations.formats.indexed_png import voc_palette
from litlora_desktop.core.video.folder_reader import IMAGE_EXTENSIONS, natural_sort_key

VOID_LABEL = 255
IMAGE_DIR_NAMES = ("JPEGImages", "JPEGImages_24fps")
ANNOTATION_DIR_NAMES = ("Annotations", "Annotations_6fps")
LAYOUT_HINT = (
    "expected ROOT/JPEGImages/<sequence>/*.jpg and ROOT/Annotations/<sequence>/*.png "
    "(palette PNGs, or one folder of binary PNGs per object as in SA-V)"
)


class DatasetError(Exception):
    """The dataset cannot be used as given; the message is meant for the user."""


def _png_palette(data: bytes) -> np.ndarray | None:
    """The PLTE chunk of a PNG as (N, 3) uint8 RGB, or None when the file has none."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        tag = data[i + 4 : i + 8]
        if tag == b"PLTE":
            return np.frombuffer(data[i + 8 : i + 8 + length], np.uint8).reshape(-1, 3)
        if tag in (b"IDAT", b"IEND"):
            return None
        i += 12 + length
    return None


def _is_grayscale_png(path: Path) -> bool:
    """Whether a PNG is stored as grayscale (colour type 0 or 4), from its header alone."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
    except OSError:
        return False
    return len(head) == 26 and head[12:16] == b"IHDR" and head[25] in (0, 4)


def read_label_png(path: str | Path) -> np.ndarray:
    """A label map (H, W) uint8 from a palette, greyscale or colour PNG.

    Palette PNGs give their indices back; greyscale PNGs their values; colour PNGs without a palette
    are read against the DAVIS/VOC colour map.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"Could not read the annotation '{path}': {exc.strerror or exc}.") from exc
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if img is None:
        raise DatasetError(f"The annotation '{path}' is damaged or not a PNG image.")
    if img.ndim == 2:
        if img.dtype != np.uint8:
            if img.max() > 255:
                raise DatasetError(f"The annotation '{path}' holds labels above 255.")
            img = img.astype(np.uint8)
        return img
    pal = _png_palette(data)
    if pal is None:
        pal = voc_palette()
    rgb = img[..., 2::-1].astype(np.uint32)  # BGR(A) -> RGB
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    pal_codes = (pal[:, 0].astype(np.uint32) << 16) | (pal[:, 1].astype(np.uint32) << 8) | pal[:, 2]
    uniq, inverse = np.unique(codes, return_inverse=True)
    lut = np.zeros(len(uniq), np.uint8)
    for k, c in enumerate(uniq):
        hits = np.flatnonzero(pal_codes == c)
        if hits.size == 0:
            r, g, b = int(c) >> 16, (int(c) >> 8) & 255, int(c) & 255
            raise DatasetError(
                f"The annotation '{path}' has the colour ({r}, {g}, {b}), which its palette lacks."
            )
        lut[k] = hits[0]
    return lut[inverse.reshape(codes.shape)]


def _image_files(folder: Path) -> list[Path]:
    """Frames of a sequence in the order the video reader uses (natural sort, no hidden files)."""
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith(".")
        ),
        key=lambda p: natural_sort_key(p.name),
    )


@dataclass
class EvalSequence:
    """One video of the dataset: its frames and where its ground truth lives.

    ``per_object`` maps object ids to {frame index: PNG}; otherwise ``label_files`` maps frame indices to
    palette PNGs holding every object.
    """

    name: str
    image_dir: Path
    frame_files: list[Path]
    label_files: dict[int, Path] = field(default_factory=dict)
    per_object: dict[int, dict[int, Path]] | None = None
    _objects: list[int] | None = field(default=None, repr=False)
    _binary: bool = field(default=False, repr=False)  # one object where the PNGs are >= 128 (no void)

    @property
    def num_frames(self) -> int:
        return len(self.frame_files)

    @property
    def annotated_frames(self) -> list[int]:
        """Frames that carry ground truth for at least one object."""
        if self.per_object is not None:
            return sorted({f for files in self.per_object.values() for f in files})
        return sorted(self.label_files)

    def object_ids(self) -> list[int]:
        """Every object with ground truth (reads the palette PNGs once in palette mode)."""
        if self._objects is None:
            if self.per_object is not None:
                self._objects = sorted(self.per_object)
            else:
                found: set[int] = set()
                hist = np.zeros(256, np.int64)  # pixels per value over the grayscale PNGs
                gray = False
                for f in sorted(self.label_files):
                    p = self.label_files[f]
                    labels_f = read_label_png(p)
                    found.update(int(v) for v in np.unique(labels_f))
                    if _is_grayscale_png(p):
                        gray = True
                        hist += np.bincount(labels_f.ravel(), minlength=256)
                labels = found - {0, VOID_LABEL}
                # black and white (255 is the object, not void) or anti-aliased grayscale: one object,
                # read exactly as the app's DAVIS import reads it
                if gray and grayscale_reading(self.name, hist) is not None:
                    self._binary, labels = True, {1}
                self._objects = sorted(labels)
        return list(self._objects)

    def ground_truth(self, frame: int, shape: tuple[int, int] | None = None) -> dict[int, np.ndarray]:
        """Boolean masks of the objects with ground truth on a frame ({} when it is not annotated).

        ``shape`` (H, W) is checked: an annotation at another resolution than the frames is an error,
        not something to resize silently. Void pixels are False here; ``frame_truth`` says where they are.
        """
        return self.frame_truth(frame, shape)[0]

    def void_mask(self, frame: int, shape: tuple[int, int] | None = None) -> np.ndarray | None:
        """Where a frame's ground truth is void (label 255), or None when it has no void pixel."""
        return self.frame_truth(frame, shape)[1]

    def frame_truth(
        self, frame: int, shape: tuple[int, int] | None = None
    ) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
        """The objects' masks on a frame and its void mask, from one read of the PNG.

        Void (label 255 in a palette PNG, as VOST marks what nobody can label) belongs to no object and
        must be neither rewarded nor punished: scores and the simulated annotator ignore it. The void
        mask is None when there is none: a frame without ground truth, a frame without 255, black and
        white masks (where 255 is the object) and one-folder-per-object layouts (SA-V has no void).
        """
        out: dict[int, np.ndarray] = {}
        if self.per_object is not None:
            for oid, files in self.per_object.items():
                p = files.get(frame)
                if p is not None:
                    out[oid] = self._checked(read_label_png(p), p, shape) > 0
            return out, None
        p = self.label_files.get(frame)
        if p is None:
            return out, None
        labels = self._checked(read_label_png(p), p, shape)
        if self.object_ids() and self._binary:
            return {1: labels >= GRAY_THRESHOLD}, None
        for oid in self.object_ids():
            out[oid] = labels == oid
        void = labels == VOID_LABEL
        return out, (void if void.any() else None)

    @staticmethod
    def _checked(labels: np.ndarray, path: Path, shape: tuple[int, int] | None) -> np.ndarray:
        if shape is not None and labels.shape != tuple(shape):
            raise DatasetError(
                f"The annotation '{path}' is {labels.shape[1]}x{labels.shape[0]} but the frames are "
                f"{shape[1]}x{shape[0]}: use the annotations made for this resolution."
            )
        return labels


def _pick_dir(root: Path, names: Sequence[str], given: str | None, what: str) -> Path:
    if given is not None:
        d = Path(given) if Path(given).is_absolute() else root / given
        if not d.is_dir():
            raise DatasetError(f"The {what} folder '{d}' does not exist.")
        return d
    for n in names:
        if (root / n).is_dir():
            return root / n
    raise DatasetError(
        f"'{root}' is not a DAVIS-layout dataset: it has no {' or '.join(names)} folder; {LAYOUT_HINT}."
    )


def _with_resolution(d: Path, resolution: str | None) -> Path:
    if resolution is not None:
        r = d / resolution
        if not r.is_dir():
            raise DatasetError(f"'{d}' has no '{resolution}' folder.")
        return r
    return d / "480p" if (d / "480p").is_dir() else d  # DAVIS ships 480p and Full-Resolution


def _annotation_map(folder: Path, stems: dict[str, int], seq: str) -> dict[int, Path]:
    out: dict[int, Path] = {}
    for p in folder.iterdir():
        if p.suffix.lower() != ".png" or p.name.startswith("."):
            continue
        if p.stem not in stems:
            raise DatasetError(
                f"The annotation '{p}' of '{seq}' matches no frame (no image named '{p.stem}.*')."
            )
        out[stems[p.stem]] = p
    return out


def open_sequence(name: str, image_dir: Path, annotation_dir: Path) -> EvalSequence:
    """Index one sequence's frames and annotation files (no pixels are read)."""
    if not image_dir.is_dir():
        raise DatasetError(f"Sequence '{name}' has annotations but no frames folder '{image_dir}'.")
    if not annotation_dir.is_dir():
        raise DatasetError(f"Sequence '{name}' has no annotation folder '{annotation_dir}'.")
    files = _image_files(image_dir)
    if not files:
        raise DatasetError(f"The frames folder '{image_dir}' holds no .jpg/.png images.")
    stems = {p.stem: i for i, p in enumerate(files)}
    subdirs = sorted(
        (d for d in annotation_dir.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: natural_sort_key(d.name),
    )
    seq = EvalSequence(name=name, image_dir=image_dir, frame_files=files)
    if subdirs:  # SA-V: one folder of binary masks per object
        numeric = all(d.name.isdigit() for d in subdirs)  # SA-V names them 000, 001, ...
        seq.per_object = {}
        for k, d in enumerate(subdirs):
            seq.per_object[int(d.name) if numeric else k + 1] = _annotation_map(d, stems, name)
        if not any(seq.per_object.values()):
            raise DatasetError(
                f"Sequence '{name}' has object folders in '{annotation_dir}' but no PNG masks."
            )
    else:
        seq.label_files = _annotation_map(annotation_dir, stems, name)
        if not seq.label_files:
            raise DatasetError(f"Sequence '{name}' has no annotation PNGs in '{annotation_dir}'.")
    return seq


def open_dataset(
    root: str | Path,
    sequences: Iterable[str] | None = None,
    *,
    images: str | None = None,
    annotations: str | None = None,
    resolution: str | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> list[EvalSequence]:
    """The dataset's sequences (all that have annotations, or the named ones), sorted by name.

    Raises ``DatasetError`` with a message that names what is missing. With ``on_skip``, the label
    PNGs are read now and a sequence whose ground truth has no object (all background or void) or
    cannot be read is left out, ``on_skip`` getting the sentence that says why; none left is an error.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"The dataset folder '{root}' does not exist.")
    if not root.is_dir():
        raise DatasetError(f"'{root}' is a file, not a dataset folder; {LAYOUT_HINT}.")
    img_root = _with_resolution(_pick_dir(root, IMAGE_DIR_NAMES, images, "images"), resolution)
    ann_root = _with_resolution(_pick_dir(root, ANNOTATION_DIR_NAMES, annotations, "annotations"), resolution)
    available = sorted(d.name for d in ann_root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if sequences is None:
        names = available
    else:
        names = list(dict.fromkeys(sequences))
        missing = [n for n in names if n not in available]
        if missing:
            raise DatasetError(
                f"No annotations for sequence(s) {', '.join(missing)} in '{ann_root}'"
                + (
                    f" (it has {len(available)}, e.g. {', '.join(available[:3])})."
                    if available
                    else " (it is empty)."
                )
            )
    if not names:
        raise DatasetError(f"'{ann_root}' holds no sequences; {LAYOUT_HINT}.")
    seqs = [open_sequence(n, img_root / n, ann_root / n) for n in sorted(names, key=natural_sort_key)]
    if on_skip is None:
        return seqs
    kept: list[EvalSequence] = []
    reasons: list[str] = []
    for seq in seqs:
        try:
            if seq.object_ids():
                kept.append(seq)
                continue
            reasons.append(f"its annotations in '{ann_root / seq.name}' mark no object (all background)")
        except DatasetError as exc:
            reasons.append(str(exc).rstrip("."))
        on_skip(f"Sequence '{seq.name}' was skipped: {reasons[-1]}.")
    if not kept:
        which = "its only sequence was" if len(seqs) == 1 else f"all {len(seqs)} sequences were"
        raise DatasetError(
            f"Nothing can be evaluated: {which} skipped ('{seqs[0].name}' because {reasons[0]})."
        )
    return kept


def read_sequence_list(path: str | Path) -> list[str]:
    """Sequence names from a split file (one per line, e.g. DAVIS ``ImageSets/2017/val.txt``)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise DatasetError(f"Could not read the sequence list '{path}': {exc.strerror or exc}.") from exc
    names = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not names:
        raise DatasetError(f"The sequence list '{path}' is empty.")
    return names
