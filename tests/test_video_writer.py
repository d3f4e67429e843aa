"""The annotated video file: H.264 that browsers play (read back with PyAV and with OpenCV), the
OpenCV fallbacks, and real write faults (a file size limit set on a child process)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.results import OutputError
from app.video_encoders import H264_MAX_SIDE, h264_available
from app.video_writer import AnnotatedVideoWriter

REPO_ROOT = Path(__file__).resolve().parents[1]
needs_h264 = pytest.mark.skipif(not h264_available(), reason="PyAV with libx264 is not installed (requirements.txt)")


def moving_dot(i: int, width: int = 201, height: int = 121) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    cv2.circle(frame, (20 + 20 * i, 60), 10, (0, 255, 0), -1)
    return frame


def write_dots(path: Path, frames: int = 8, fps: float = 10.0, **options) -> AnnotatedVideoWriter:
    writer = AnnotatedVideoWriter(path, fps=fps, **options)
    for i in range(frames):
        writer.write(moving_dot(i))
    assert not path.exists()  # still being written under a temporary name
    writer.close()
    return writer


def probe(path: Path) -> dict:
    """What a player sees, read by PyAV (FFmpeg's own demuxer and decoder)."""
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        images = [frame.to_ndarray(format="bgr24") for frame in container.decode(stream)]
        return {"codec": stream.codec_context.name, "pix_fmt": stream.codec_context.pix_fmt,
                "declared": stream.frames, "rate": stream.average_rate, "size": (stream.width, stream.height),
                "images": images}


@needs_h264
def test_mp4_is_h264_that_browsers_play_with_every_frame_and_the_size_cut_to_even(tmp_path):
    path = tmp_path / "annotated.mp4"
    writer = write_dots(path)
    assert writer.codec == "h264" and writer.frames_written == 8
    seen = probe(path)
    assert seen["codec"] == "h264" and seen["pix_fmt"] == "yuv420p"  # 4:2:0, the only one browsers decode
    assert seen["declared"] == len(seen["images"]) == 8
    assert seen["size"] == (200, 120) and seen["rate"] == 10
    # Each frame is the one written: the dot moves 20 px a frame.
    for i, image in enumerate(seen["images"]):
        assert image[60, 20 + 20 * i, 1] > 150 and image[60, 20 + 20 * i, 2] < 80
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # index first: a browser plays while downloading
    capture = cv2.VideoCapture(str(path))  # and OpenCV (another build of FFmpeg) reads it too
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 8
    capture.release()
    assert [p.name for p in tmp_path.iterdir()] == ["annotated.mp4"]


@needs_h264
def test_h264_keeps_a_broadcast_frame_rate_exact(tmp_path):
    path = tmp_path / "ntsc.mp4"
    write_dots(path, frames=3, fps=30000 / 1001)
    assert probe(path)["rate"] == Fraction(30000, 1001)


@pytest.mark.parametrize("name,options,codec,read_as", [
    ("fallback.mp4", {"h264": False}, "mp4v", "mpeg4"),   # where PyAV is missing
    ("annotated.avi", {}, "MJPG", "mjpeg"),
])
def test_the_opencv_codecs(tmp_path, name, options, codec, read_as):
    path = tmp_path / name
    assert write_dots(path, **options).codec == codec
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 8
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape == (120, 200, 3) and first[60, 20, 1] > 150
    if h264_available():
        assert probe(path)["codec"] == read_as


def test_unknown_extensions_and_frame_rates_are_refused_in_one_line(tmp_path):
    with pytest.raises(OutputError, match="unsupported extension"):
        AnnotatedVideoWriter(tmp_path / "out.gif", fps=10.0)
    with pytest.raises(OutputError, match="frame rate nan is not a positive number"):
        AnnotatedVideoWriter(tmp_path / "out.mp4", fps=float("nan"))


@needs_h264
def test_frames_too_large_for_h264_name_their_size_and_leave_nothing(tmp_path):
    path = tmp_path / "wide.mp4"
    writer = AnnotatedVideoWriter(path, fps=10.0)
    with pytest.raises(OutputError) as raised:
        writer.write(np.zeros((64, H264_MAX_SIDE + 2, 3), np.uint8))
    assert str(raised.value) == (f"cannot create the video {path}: its frames (the input beside the 3D view) are "
                                 f"{H264_MAX_SIDE + 2} x 64 pixels, more than H.264 takes ({H264_MAX_SIDE} a side); "
                                 "use .avi (MJPG)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("h264", [None, False])
def test_a_file_size_limit_fails_the_video_at_close_and_keeps_nothing(tmp_path, h264):
    """The kernel refuses to grow any file past 300 kB, as a full disk would. H.264 (PyAV) hears
    of it at the write; OpenCV's mp4v writer ignores it and the read-back finds it. Either way
    close() raises one line and neither the partial file nor a broken one under the name stays."""
    if h264 is None and not h264_available():
        pytest.skip("PyAV with libx264 is not installed")
    path = tmp_path / "big.mp4"
    path.write_bytes(b"the user's earlier file")
    script = textwrap.dedent(f"""
        import resource
        import numpy as np
        from app.results import OutputError
        from app.video_writer import AnnotatedVideoWriter
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
        writer = AnnotatedVideoWriter({str(path)!r}, fps=30.0, h264={h264!r})
        noise = np.random.default_rng(0)
        for _ in range(40):  # noise does not compress: ~40 kB a frame at 320 x 240
            writer.write(noise.integers(0, 256, (240, 320, 3), dtype=np.uint8))
        try:
            writer.close()
        except OutputError as error:
            print(writer.codec, "|", error)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    codec, message = result.stdout.strip().split(" | ")
    assert codec == ("h264" if h264 is None else "mp4v")
    assert message.startswith(f"writing the video {path} failed (") and message.endswith("; it was not saved")
    if h264 is None:
        assert "(File too large)" in message  # the write's own error, not a guess from the read-back
    assert path.read_bytes() == b"the user's earlier file"
    assert [p.name for p in tmp_path.iterdir()] == ["big.mp4"]
