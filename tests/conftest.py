"""Shared fixtures. Video fixtures live in tests/video_fixtures.py, model fixtures in tests/model_fixtures.py."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the hub

import torch

# Tiny models gain nothing from intra-op threads, and on a shared 2-core machine they oversubscribe.
torch.set_num_threads(1)

from tests.model_fixtures import *  # noqa: E402,F403
from tests.video_fixtures import *  # noqa: E402,F403
