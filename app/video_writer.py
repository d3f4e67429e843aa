"""The annotated video (--save-video): the frame with its 2D keypoints beside the 3D view
(app.draw.draw_annotated), written as the frames come and moved into place once it reads back."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from app.results import OutputError, check_output_path

VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG"}


class AnnotatedVideoWriter:
    """The --save-video file: frames written as they come, to a temporary name in the same folder
    that close() renames to `path` (a run that dies leaves no broken file under the real name)."""

    def __init__(self, path: Path | str, fps: float):
        self.path = check_output_path(path, tuple(VIDEO_CODECS))
        self.fps = fps
        self._partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames_written = 0

    def write(self, image_bgr: np.ndarray) -> None:
        if self._writer is None:
            # MPEG-4 stores 4:2:0 colour: odd sizes would be cut silently by the encoder, so cut here.
            self._size = (image_bgr.shape[1] // 2 * 2, image_bgr.shape[0] // 2 * 2)
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self._partial), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                self._writer = None
                raise OutputError(self._why_not_opened(fourcc))
        width, height = self._size
        if image_bgr.shape[1] // 2 * 2 != width or image_bgr.shape[0] // 2 * 2 != height:
            image_bgr = cv2.resize(image_bgr, self._size, interpolation=cv2.INTER_AREA)
        image_bgr = np.ascontiguousarray(image_bgr[:height, :width])
        self._writer.write(image_bgr)
        self.frames_written += 1

    def _why_not_opened(self, fourcc: int) -> str:
        """OpenCV says only that it could not open a writer: a small one tells a frame size the
        encoder refuses (mp4v takes at most 8190 pixels a side) from a codec that is missing."""
        codec = VIDEO_CODECS[self.path.suffix.lower()]
        fd, probe = tempfile.mkstemp(dir=self.path.parent, prefix=".probe.", suffix=self.path.suffix)
        os.close(fd)
        try:
            small = cv2.VideoWriter(probe, fourcc, self.fps, (64, 64))
            codec_works = small.isOpened()
            small.release()
        finally:
            os.unlink(probe)
        width, height = self._size
        if codec_works:
            other = ".avi (MJPG)" if self.path.suffix.lower() != ".avi" else "a smaller input video"
            return (f"cannot create the video {self.path}: its frames (the input beside the 3D view) are "
                    f"{width} x {height} pixels, more than the {self.path.suffix} ({codec}) encoder takes; "
                    f"use {other}")
        return f"cannot create the video {self.path} (OpenCV has no {self.path.suffix} ({codec}) writer)"

    def close(self) -> None:
        """Finish the file and move it into place, once it reads back: OpenCV ignores write errors,
        and on a full disk it left an unplayable file (no index) that was renamed into place.
        Raises OutputError, keeping nothing, when the file does not read back."""
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        problem = self._check_partial()
        if problem is not None:
            try:
                os.unlink(self._partial)
            except OSError:
                pass
            raise OutputError(f"writing the video {self.path} failed ({problem}); it was not saved")
        try:
            os.replace(self._partial, self.path)
        except OSError as error:
            raise OutputError(f"cannot finish the video {self.path} ({error.strerror or error})") from None

    def _check_partial(self) -> str | None:
        """None when the finished file opens, declares every frame written and decodes its last one."""
        capture = cv2.VideoCapture(str(self._partial))
        try:
            frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
            last_ok = False
            if frames == self.frames_written:
                capture.set(cv2.CAP_PROP_POS_FRAMES, frames - 1)
                last_ok = capture.read()[0]
        finally:
            capture.release()
        if frames == self.frames_written and last_ok:
            return None
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            free = None
        read_back = f"{self.frames_written} frames written, {frames} read back"
        if free is not None and free < 1 << 20:
            return f"the disk is full: {read_back}"
        return f"{read_back}: a full disk or a file size limit?"
