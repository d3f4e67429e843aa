"""The encoders behind the annotated video (app/video_writer.py): frames in, one file out.

    encoder = open_encoder(Path(".x.partial.mp4"), Path("x.mp4"), fps=30.0, size=(1280, 480))
    encoder.write(image_bgr)      # OSError / av's errors when the file cannot grow
    encoder.close()

.mp4 is H.264 (yuv420p, what every browser plays) through PyAV, whose wheel bundles FFmpeg with
libx264, so nothing is downloaded or looked up at run time. Where PyAV is missing (or a build
without libx264) .mp4 falls back to OpenCV's MPEG-4 Part 2 (mp4v), which players such as VLC
and mpv show but browsers do not. .avi is always OpenCV's Motion JPEG.
"""
from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

# Every frame is encoded on the pipeline's main thread: at 2426 x 1280 (a portrait clip beside the
# 3D view, 2 vCPU) ultrafast takes 12 ms a frame like mp4v, with a file 15% smaller; veryfast 24-39 ms
# for a file a third the size. No B-frames and no CABAC: it also plays on the oldest decoders.
H264_OPTIONS = {"preset": "ultrafast", "crf": "23"}
H264_MAX_SIDE = 16384                               # x264 refuses frames wider or taller than this
OPENCV_CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
SUFFIXES = tuple(OPENCV_CODECS)


class EncoderError(RuntimeError):
    """The encoder cannot start for this file; the message says why in one line."""


class Encoder(Protocol):
    codec: str                               # for messages and tests: "h264", "mp4v" or "MJPG"

    def write(self, image_bgr: np.ndarray) -> None: ...

    def close(self) -> None: ...


def h264_available() -> bool:
    """Whether PyAV is installed with an H.264 encoder (libx264)."""
    try:
        import av
    except (ImportError, OSError):  # OSError: a wheel whose libraries do not load
        return False
    return "libx264" in av.codecs_available


class H264Encoder:
    """H.264 in MP4 through PyAV. The moov index goes to the front of the file (faststart), so a
    browser starts playing before it has downloaded the whole file."""

    codec = "h264"

    def __init__(self, path: Path, shown: Path, fps: float, size: tuple[int, int]):
        import av
        self._av = av
        width, height = size
        if max(width, height) > H264_MAX_SIDE:
            raise EncoderError(_too_large(shown, size, f"more than H.264 takes ({H264_MAX_SIDE} a side)"))
        # A frame rate such as 29.97 (30000/1001) as the exact fraction MP4 timestamps need.
        rate = Fraction(fps).limit_denominator(1001)
        try:
            self._container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
            self._stream = self._container.add_stream("libx264", rate=rate)
            self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
            self._stream.codec_context.options = dict(H264_OPTIONS)
            self._stream.codec_context.open()  # now, so that a refusal is not the first frame's error
        except (av.FFmpegError, OSError) as error:
            self._abandon()
            raise EncoderError(f"cannot create the video {shown} ({_reason(error)})") from None

    def write(self, image_bgr: np.ndarray) -> None:
        """Raises OSError when the file cannot grow (a full disk, a file size limit)."""
        try:
            for packet in self._stream.encode(self._av.VideoFrame.from_ndarray(image_bgr, format="bgr24")):
                self._container.mux(packet)
        except self._av.FFmpegError as error:  # most are OSErrors already; the writer catches only those
            raise OSError(_reason(error)) from None

    def close(self) -> None:
        """Flush the encoder's delayed frames and write the index; raises OSError where that fails."""
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        except self._av.FFmpegError as error:
            self._abandon()
            raise OSError(_reason(error)) from None
        self._abandon(quietly=False)

    def _abandon(self, quietly: bool = True) -> None:
        """Close the file; after a failure closing fails the same way again, which is no news."""
        container, self._container = getattr(self, "_container", None), None
        if container is None:
            return
        try:
            container.close()
        except self._av.FFmpegError as error:
            if not quietly:
                raise OSError(_reason(error)) from None


class OpenCVEncoder:
    """OpenCV's writer: mp4v for .mp4 (where PyAV is not there), MJPG for .avi. It ignores write
    errors: app/video_writer.py finds them by reading the file back."""

    def __init__(self, path: Path, shown: Path, fps: float, size: tuple[int, int]):
        self.codec = OPENCV_CODECS[shown.suffix.lower()]
        fourcc = cv2.VideoWriter_fourcc(*self.codec)
        self._writer = cv2.VideoWriter(str(path), fourcc, fps, size)
        if not self._writer.isOpened():
            self._writer.release()
            raise EncoderError(self._why_not_opened(shown, fourcc, fps, size))

    def write(self, image_bgr: np.ndarray) -> None:
        self._writer.write(image_bgr)

    def close(self) -> None:
        self._writer.release()

    def _why_not_opened(self, path: Path, fourcc: int, fps: float, size: tuple[int, int]) -> str:
        """OpenCV says only that it could not open a writer: a small one tells a frame size the
        encoder refuses (mp4v takes at most 8190 pixels a side) from a codec that is missing."""
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=".probe.", suffix=path.suffix)
        os.close(fd)
        try:
            small = cv2.VideoWriter(probe, fourcc, fps, (64, 64))
            codec_works = small.isOpened()
            small.release()
        finally:
            os.unlink(probe)
        if codec_works:
            return _too_large(path, size, f"more than the {path.suffix} ({self.codec}) encoder takes")
        return f"cannot create the video {path} (OpenCV has no {path.suffix} ({self.codec}) writer)"


def open_encoder(path: Path, shown: Path, fps: float, size: tuple[int, int], h264: bool | None = None) -> Encoder:
    """The encoder writing `path` for the video the user named `shown` (.mp4 or .avi: the codec
    and the messages follow it), frames of `size` (width, height; even). h264: None picks H.264
    for .mp4 wherever PyAV has it, False always OpenCV. Raises EncoderError in one line."""
    suffix = shown.suffix.lower()
    if suffix not in OPENCV_CODECS:
        raise ValueError(f"unsupported video extension {suffix!r} (use {' or '.join(SUFFIXES)})")
    if suffix == ".mp4" and h264 is not False and h264_available():
        return H264Encoder(path, shown, fps, size)
    return OpenCVEncoder(path, shown, fps, size)


def _too_large(path: Path, size: tuple[int, int], limit: str) -> str:
    other = "a smaller input video" if path.suffix.lower() == ".avi" else ".avi (MJPG)"
    return (f"cannot create the video {path}: its frames (the input beside the 3D view) are {size[0]} x {size[1]} "
            f"pixels, {limit}; use {other}")


def _reason(error: BaseException) -> str:
    """An FFmpeg or OS error as a few words ("File too large"), not its errno and repr."""
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
