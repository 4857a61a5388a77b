"""Frames in: video files and image folders read as one `FrameSource`, and frames written back out.

Depends on nothing else in the app; everything that shows or tracks a frame reads it through here.
"""
