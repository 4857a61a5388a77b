"""Shared fixtures. Video fixtures live in tests/video_fixtures.py, model fixtures in tests/model_fixtures.py."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the hub
# Entry points tune glibc malloc (core/sam2/allocator.py); the test process keeps the defaults so one
# test calling an entry point cannot change the memory behaviour of the tests after it.
os.environ.setdefault("LITLORA_DEFAULT_MALLOC", "1")

import torch

# Tiny models gain nothing from intra-op threads, and on a shared 2-core machine they oversubscribe.
torch.set_num_threads(1)

from tests.model_fixtures import *  # noqa: E402,F403
from tests.video_fixtures import *  # noqa: E402,F403
