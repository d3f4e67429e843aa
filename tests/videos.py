"""Test videos written from the shared clips, and the stand-in for a webcam: a video file played
at camera speed through cv2.VideoCapture's interface (the one thing the tests stand in for, as the
developers' guide allows)."""
from __future__ import annotations

import struct
import time
from pathlib import Path

import cv2
import numpy as np

from app.capture import read_frames


class FileWebcam:
    """A webcam stand-in: real frames from a video file, delivered at `fps` like a camera
    (read() blocks until the next frame is due); after `stop_after` frames it delivers nothing,
    like an unplugged camera. `fails=True` is a camera that opens but never gives a frame (busy)."""

    def __init__(self, path: Path, fps: float = 30.0, stop_after: int | None = None, fails: bool = False):
        self._frames = read_frames(path)
        self.fps, self.stop_after, self.fails = fps, stop_after, fails
        self.delivered = 0
        self._next_due = time.monotonic()
        self.released = False

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        return False

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        if self.fails or (self.stop_after is not None and self.delivered >= self.stop_after):
            time.sleep(0.01)
            return False, None
        delay = self._next_due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next_due = max(self._next_due, time.monotonic() - 1.0) + 1.0 / self.fps
        image = self._frames[self.delivered % len(self._frames)].copy()
        self.delivered += 1
        return True, image

    def release(self) -> None:
        self.released = True


def write_video(path: Path, images: list[np.ndarray], fourcc: str = "MJPG", repeats: int = 1,
                size: tuple[int, int] | None = None, fps: float = 30.0) -> Path:
    """`images` written `repeats` times over with OpenCV's `fourcc` encoder at `fps`, each scaled
    to `size` (width, height) when given."""
    height, width = images[0].shape[:2]
    size = size or (width, height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for _ in range(repeats):
        for image in images:
            writer.write(image if image.shape[1::-1] == size else cv2.resize(image, size))
    writer.release()
    return path


def mjpg_video(path: Path, source: Path, repeats: int = 1, damaged: tuple[int, ...] = ()) -> Path:
    """`source` as an MJPG AVI (each frame its own JPEG), with the data of the frames numbered in
    `damaged` zeroed: those frames do not decode, their neighbours do."""
    frames = read_frames(source)
    write_video(path, frames, "MJPG", repeats=repeats)
    data = bytearray(path.read_bytes())
    chunk, frame = data.find(b"movi"), 0
    while frame < len(frames) * repeats:  # the 'movi' list: one '00dc' chunk per frame, in order
        chunk = data.find(b"00dc", chunk)
        size = int.from_bytes(data[chunk + 4:chunk + 8], "little")
        if frame in damaged:
            data[chunk + 8:chunk + 8 + size] = bytes(size)
        chunk, frame = chunk + 8 + size, frame + 1
    path.write_bytes(bytes(data))
    return path


def write_phone_video(path: Path, upright: np.ndarray, frames: int = 6) -> Path:
    """An .mp4 as a phone records it: the frames stored sideways (rotated a quarter turn
    counter-clockwise) and a display matrix in the track header (tkhd) that turns them upright,
    the `rotate=90` that phones and ffmpeg write. OpenCV writes the video; the matrix is set in
    the file's bytes, where every player reads it."""
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)
    stored = np.ascontiguousarray(stored[:stored.shape[0] // 2 * 2, :stored.shape[1] // 2 * 2])
    write_video(path, [stored], "mp4v", repeats=frames, fps=10.0)
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd") - 4  # the box: size, type, version and flags, then times, ids, duration...
    assert at > 0 and data[at + 8] == 0, "expected one version-0 track header"
    one, minus_one, w = 0x00010000, 0xFFFF0000, 0x40000000  # 16.16 and 2.30 fixed point
    struct.pack_into(">9I", data, at + 8 + 4 + 20 + 8 + 8, 0, one, 0, minus_one, 0, 0, 0, 0, w)
    path.write_bytes(bytes(data))
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_ORIENTATION_META) == 90  # the file really says "turn me"
    capture.release()
    return path
