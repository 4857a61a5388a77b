"""SAM2 itself: loading a model (hub, local folder, Meta checkpoint, the demo), preprocessing frames
exactly as SAM2 expects them, the image-encoder cache and the `Tracker` that turns clicks into masks
and masks into tracks. Qt-free and thread-agnostic: the app calls it from its model thread."""
