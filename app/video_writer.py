"""The annotated video (--save-video): the frame with its 2D keypoints beside the 3D view
(app.draw.draw_annotated), written as the frames come and moved into place once it reads back.
.mp4 is H.264 where PyAV is installed (browsers play it), else MPEG-4 Part 2; .avi is Motion
JPEG (app/video_encoders.py)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from app.results import OutputError, check_output_path
from app.video_encoders import SUFFIXES, Encoder, EncoderError, open_encoder

VIDEO_SUFFIXES = SUFFIXES


class AnnotatedVideoWriter:
    """The --save-video file: frames written as they come, to a temporary name in the same folder
    that close() renames to `path` (a run that dies leaves no broken file under the real name).

    h264: None (H.264 for .mp4 wherever PyAV has it), False (OpenCV's mp4v / MJPG)."""

    def __init__(self, path: Path | str, fps: float, h264: bool | None = None):
        self.path = check_output_path(path, VIDEO_SUFFIXES)
        if not (np.isfinite(fps) and fps > 0):
            raise OutputError(f"cannot create the video {self.path}: frame rate {fps} is not a positive number")
        self.fps = float(fps)
        self._h264 = h264
        self._partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._encoder: Encoder | None = None
        self.codec: str | None = None     # "h264", "mp4v" or "MJPG" once the first frame is written
        self._size: tuple[int, int] | None = None
        self._failure: str | None = None  # why writing failed; the run goes on for the results' sake
        self.frames_written = 0

    def write(self, image_bgr: np.ndarray) -> None:
        """Add a frame (BGR uint8; resized to the first frame's size). Raises OutputError when the
        file cannot be created; a failure while writing is reported by close(), so that the run
        still saves its results."""
        if self._failure is not None:
            return
        if self._encoder is None:
            # H.264 and MPEG-4 store 4:2:0 colour: odd sizes would be cut by the encoder, so cut here.
            self._size = (image_bgr.shape[1] // 2 * 2, image_bgr.shape[0] // 2 * 2)
            try:
                self._encoder = open_encoder(self._partial, self.path, self.fps, self._size, self._h264)
            except EncoderError as error:
                self._remove_partial()
                raise OutputError(str(error)) from None
            self.codec = self._encoder.codec
        width, height = self._size
        if image_bgr.shape[1] // 2 * 2 != width or image_bgr.shape[0] // 2 * 2 != height:
            image_bgr = cv2.resize(image_bgr, self._size, interpolation=cv2.INTER_AREA)
        image_bgr = np.ascontiguousarray(image_bgr[:height, :width])
        try:
            self._encoder.write(image_bgr)
        except OSError as error:  # H.264 (PyAV) says at once when the file cannot grow
            self._failure = error.strerror or str(error)
            try:
                self._encoder.close()
            except OSError:
                pass
            return
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and move it into place, once it reads back: OpenCV ignores write errors,
        and on a full disk it left an unplayable file (no index) that was renamed into place.
        Raises OutputError, keeping nothing, when writing failed or the file does not read back."""
        if self._encoder is None:
            return
        encoder, self._encoder = self._encoder, None
        problem = self._failure
        if problem is None:
            try:
                encoder.close()
            except OSError as error:
                problem = error.strerror or str(error)
        if problem is None:
            problem = self._check_partial()
        if problem is not None:
            self._remove_partial()
            raise OutputError(f"writing the video {self.path} failed ({problem}); it was not saved")
        try:
            os.replace(self._partial, self.path)
        except OSError as error:
            raise OutputError(f"cannot finish the video {self.path} ({error.strerror or error})") from None

    def _remove_partial(self) -> None:
        try:
            os.unlink(self._partial)
        except OSError:
            pass

    def _check_partial(self) -> str | None:
        """None when the finished file opens, declares every frame written and decodes its last
        one, read by OpenCV: a reader other than the one that wrote it (PyAV's, for H.264)."""
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
