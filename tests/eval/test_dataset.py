"""DAVIS-layout reading: palette/greyscale PNGs, per-object folders, sparse ground truth, clear errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from litlora_desktop.core.annotations.formats.indexed_png import encode_indexed_png, voc_palette
from litlora_desktop.eval.dataset import DatasetError, open_dataset, read_label_png, read_sequence_list
from litlora_desktop.eval.synthetic_dataset import write_synthetic_dataset


def test_palette_png_gives_indices_back_with_its_own_palette(tmp_path):
    labels = np.zeros((6, 9), np.uint8)
    labels[1:3, 2:6] = 1
    labels[4, 7] = 3
    labels[0, 0] = 255
    pal = np.random.default_rng(0).permutation(voc_palette())  # not the VOC order: the file's PLTE rules
    p = tmp_path / "a.png"
    p.write_bytes(encode_indexed_png(labels, pal))
    assert np.array_equal(read_label_png(p), labels)


def test_greyscale_and_colour_pngs(tmp_path):
    grey = np.zeros((4, 5), np.uint8)
    grey[1, 1] = 2
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    assert np.array_equal(read_label_png(tmp_path / "g.png"), grey)
    rgb = voc_palette()[grey]  # a colour PNG without palette: read against the DAVIS colours
    cv2.imwrite(str(tmp_path / "c.png"), rgb[..., ::-1])
    assert np.array_equal(read_label_png(tmp_path / "c.png"), grey)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="damaged"):
        read_label_png(tmp_path / "bad.png")


def test_synthetic_davis_layout_round_trip(tmp_path):
    names = write_synthetic_dataset(tmp_path, ["occlusion", "split"], num_frames=6, size=(40, 48))
    seqs = open_dataset(tmp_path)
    assert [s.name for s in seqs] == sorted(names)
    occ = next(s for s in seqs if s.name.startswith("occlusion"))
    assert occ.num_frames == 6 and occ.object_ids() == [1, 2]
    gt = occ.ground_truth(0, (40, 48))
    assert set(gt) == {1, 2} and gt[1].dtype == bool and gt[1].any()
    assert not (gt[1] & gt[2]).any()
    with pytest.raises(DatasetError, match="resolution"):
        occ.ground_truth(0, (80, 96))


def test_per_object_layout_with_sparse_annotations(tmp_path):
    write_synthetic_dataset(
        tmp_path, ["split"], num_frames=9, size=(40, 48), per_object=True, annotate_every=4
    )
    (seq,) = open_dataset(tmp_path)
    assert seq.per_object is not None and seq.object_ids() == [1, 2]
    assert seq.annotated_frames == [0, 4, 8]
    assert seq.ground_truth(3) == {}
    assert set(seq.ground_truth(4)) == {1, 2}


def test_davis_resolution_folder_and_sequence_selection(tmp_path):
    write_synthetic_dataset(tmp_path / "tmp", ["basic", "distractor"], num_frames=3, size=(32, 32))
    for sub in ("JPEGImages", "Annotations"):
        (tmp_path / sub).mkdir()
        (tmp_path / "tmp" / sub).rename(tmp_path / sub / "480p")
    seqs = open_dataset(tmp_path, ["distractor-1"])
    assert [s.name for s in seqs] == ["distractor-1"] and "480p" in str(seqs[0].image_dir)
    (tmp_path / "val.txt").write_text("distractor-1\n\nbasic-0\n")
    assert read_sequence_list(tmp_path / "val.txt") == ["distractor-1", "basic-0"]


def test_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no JPEGImages"):
        open_dataset(tmp_path)
    write_synthetic_dataset(tmp_path, ["basic"], num_frames=2, size=(32, 32))
    with pytest.raises(DatasetError, match="No annotations for sequence"):
        open_dataset(tmp_path, ["car-race"])
    (tmp_path / "Annotations" / "basic-0" / "00099.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="matches no frame"):
        open_dataset(tmp_path)


def _vost_like(root, labels_per_frame) -> None:
    """A sequence 'cut' in the DAVIS layout whose palette PNGs may hold void (255), as VOST's do."""
    (root / "JPEGImages" / "cut").mkdir(parents=True)
    (root / "Annotations" / "cut").mkdir(parents=True)
    for f, labels in enumerate(labels_per_frame):
        cv2.imwrite(
            str(root / "JPEGImages" / "cut" / f"{f:05d}.jpg"), np.full((*labels.shape, 3), 90, np.uint8)
        )
        png = encode_indexed_png(labels, voc_palette())
        (root / "Annotations" / "cut" / f"{f:05d}.png").write_bytes(png)


def test_void_is_exposed_per_frame_and_belongs_to_no_object(tmp_path):
    first = np.zeros((12, 16), np.uint8)
    first[2:6, 2:6] = 1
    first[7:10, 9:14] = 2
    second = first.copy()
    second[1:7, 1:7] = np.where(second[1:7, 1:7] == 1, 1, 255)  # void around object 1
    second[4, 4] = 255  # and a void pixel inside it
    _vost_like(tmp_path, [first, second])
    (seq,) = open_dataset(tmp_path)
    assert seq.object_ids() == [1, 2]  # 255 is no object
    masks, void = seq.frame_truth(0, (12, 16))
    assert void is None and np.array_equal(masks[1], first == 1)  # no 255 on that frame
    masks, void = seq.frame_truth(1, (12, 16))
    assert void is not None and void.dtype == bool and np.array_equal(void, second == 255)
    assert void.sum() == 6 * 6 - 4 * 4 + 1
    assert np.array_equal(masks[1], second == 1) and not (masks[1] & void).any() and not masks[1][4, 4]
    assert np.array_equal(seq.void_mask(1), void) and seq.void_mask(0) is None
    assert all(np.array_equal(seq.ground_truth(1)[k], masks[k]) for k in (1, 2))


def test_void_is_none_where_255_is_the_object_or_there_is_no_ground_truth(tmp_path):
    write_synthetic_dataset(
        tmp_path, ["split"], num_frames=5, size=(40, 48), per_object=True, annotate_every=4
    )  # one folder of 0/255 PNGs per object: 255 is the object
    (seq,) = open_dataset(tmp_path)
    assert seq.frame_truth(4, (40, 48))[1] is None and seq.frame_truth(2, (40, 48)) == ({}, None)
    bw = tmp_path / "bw"
    (bw / "JPEGImages" / "s").mkdir(parents=True)
    (bw / "Annotations" / "s").mkdir(parents=True)
    m = np.zeros((8, 8), np.uint8)
    m[2:5, 2:5] = 255  # black and white: one object, 255
    cv2.imwrite(str(bw / "JPEGImages" / "s" / "0.jpg"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(bw / "Annotations" / "s" / "0.png"), m)
    (s,) = open_dataset(bw)
    masks, void = s.frame_truth(0)
    assert void is None and masks[1].sum() == 9


def _gray_sequence(root, frames: list[np.ndarray]):
    (root / "JPEGImages" / "s").mkdir(parents=True)
    (root / "Annotations" / "s").mkdir(parents=True)
    for f, m in enumerate(frames):
        cv2.imwrite(str(root / "JPEGImages" / "s" / f"{f}.jpg"), np.zeros((*m.shape, 3), np.uint8))
        cv2.imwrite(str(root / "Annotations" / "s" / f"{f}.png"), m)
    (seq,) = open_dataset(root)
    return seq


def test_anti_aliased_grayscale_masks_are_one_object_thresholded_as_the_apps_import_reads_them(tmp_path):
    """A soft-edged white disc is one object (>= 128), not dozens of objects, one per gray level."""
    yy, xx = np.mgrid[0:40, 0:48]
    soft = np.clip((14 - np.hypot(xx - 24, yy - 20)) * 40 + 128, 0, 255).astype(np.uint8)
    assert len(np.unique(soft)) > 16  # anti-aliased
    seq = _gray_sequence(tmp_path / "aa", [soft])
    masks, void = seq.frame_truth(0, (40, 48))
    assert seq.object_ids() == [1] and void is None
    assert np.array_equal(masks[1], soft >= 128)


def test_grayscale_label_maps_keep_their_objects_and_void(tmp_path):
    labels = np.zeros((20, 24), np.uint8)
    labels[2:8, 2:8], labels[10:18, 12:20], labels[0, :] = 1, 2, 255
    seq = _gray_sequence(tmp_path / "labels", [labels])
    masks, void = seq.frame_truth(0, (20, 24))
    assert seq.object_ids() == [1, 2] and masks[2].sum() == 64 and void is not None and void.sum() == 24
