"""A ``.pt`` file that is not a usable SAM2 checkpoint gets one sentence naming the file, never torch's
text: not its advice to load with ``weights_only=False`` (which would run the file's code), nor
low-level reader errors such as "unpack requires a buffer of 13 bytes".
"""

from __future__ import annotations

import io
import os

import pytest
import torch

from litlora_desktop.core.sam2.meta_checkpoint import MetaCheckpointError, read_meta_state_dict


class NotAWeight:
    """A pickled Python object: weights-only loading refuses it, and so must the app, quietly."""

    def __init__(self) -> None:
        self.payload = 1


def _saved(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


RAW_TEXT = (
    "weights_only",
    "Weights only",
    "trust",
    "unpack",
    "PytorchStreamReader",
    "buffer",
    "Error:",
    "load key",
)


def _cases() -> dict[str, bytes]:
    good = _saved({"model": {"x": torch.zeros(3)}})
    return {
        "code.pt": _saved({"model": {"x": torch.zeros(3)}, "extra": NotAWeight()}),
        "truncated.pt": good[: len(good) // 2],
        "tiny.pt": good[:13],
        "garbage.pt": os.urandom(64),
        "empty.pt": b"",
    }


@pytest.mark.parametrize("name", sorted(_cases()))
def test_unreadable_checkpoint_gets_a_sentence(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(_cases()[name])
    with pytest.raises(MetaCheckpointError) as info:
        read_meta_state_dict(p)
    msg = str(info.value)
    assert name in msg and "\n" not in msg, msg
    for raw in RAW_TEXT:
        assert raw not in msg, msg


def test_code_in_a_checkpoint_is_named_as_the_reason(tmp_path):
    p = tmp_path / "code.pt"
    p.write_bytes(_cases()["code.pt"])
    with pytest.raises(MetaCheckpointError) as info:
        read_meta_state_dict(p)
    assert "not loaded" in str(info.value), str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_a_pipe_is_not_a_checkpoint(tmp_path):
    p = tmp_path / "pipe.pt"
    os.mkfifo(p)
    with pytest.raises(MetaCheckpointError, match=r"pipe\.pt.*regular file"):
        read_meta_state_dict(p)
