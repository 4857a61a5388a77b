"""Synthetic video with exact ground truth: the shape world the demo SAM2 learns from, the older
scripted scenarios the tests use, the app's sample video and the ground-truth file kept with it."""
