"""MediaPipe Pose for real, on real photos: the shared yoga photo and scikit-image's astronaut
(packaged with scikit-image, so that one runs without ../shared)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.keypoints import DetectorError, Keypoints2D, PoseDetector, _landmark_model_path
from app.mapping import (LEFT_ANKLE, LEFT_HIP, LEFT_SHOULDER, LEFT_WRIST, NOSE, RIGHT_ANKLE, RIGHT_HIP,
                         RIGHT_SHOULDER, RIGHT_WRIST)


@pytest.fixture
def detector():
    with PoseDetector() as d:
        yield d


def astronaut_bgr() -> np.ndarray:
    from skimage import data
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def test_yoga_photo_gives_a_whole_upright_person_in_pixels(detector, media_dir):
    image = cv2.imread(str(media_dir / "pose.jpg"))  # 1000 x 667, warrior II pose, whole body
    found = detector.detect(image)
    assert isinstance(found, Keypoints2D)
    assert found.landmarks.shape == (33, 2) and found.landmarks.dtype == np.float32
    assert found.visibility.shape == (33,) and ((found.visibility >= 0) & (found.visibility <= 1)).all()
    lm = found.landmarks
    height, width = image.shape[:2]
    assert (lm[:, 0] > 0).all() and (lm[:, 0] < width).all() and (lm[:, 1] > 0).all() and (lm[:, 1] < height).all()
    # Upright (y down): head above shoulders above hips above ankles.
    hips_y = lm[[LEFT_HIP, RIGHT_HIP], 1].mean()
    assert lm[NOSE, 1] < lm[[LEFT_SHOULDER, RIGHT_SHOULDER], 1].mean() < hips_y < lm[[LEFT_ANKLE, RIGHT_ANKLE], 1].min()
    # Warrior II: arms stretched out sideways, far wider than the shoulders, wrists near shoulder height.
    arm_span = abs(lm[LEFT_WRIST, 0] - lm[RIGHT_WRIST, 0])
    assert arm_span > 3 * abs(lm[LEFT_SHOULDER, 0] - lm[RIGHT_SHOULDER, 0])
    assert abs(lm[LEFT_WRIST, 1] - lm[LEFT_SHOULDER, 1]) < 0.1 * height
    # The person is about 60% of the image height and fully visible.
    assert 0.45 * height < lm[[LEFT_ANKLE, RIGHT_ANKLE], 1].max() - lm[NOSE, 1] < 0.8 * height
    assert found.visibility[[LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER, RIGHT_SHOULDER]].min() > 0.9
    assert found.world_landmarks is not None and found.world_landmarks.shape == (33, 3)


def test_astronaut_facing_the_camera_has_her_left_on_the_image_right(detector):
    image = astronaut_bgr()  # 512 x 512, head and shoulders, facing the viewer
    found = detector.detect(image)
    assert found is not None
    lm = found.landmarks
    assert lm[LEFT_SHOULDER, 0] > lm[RIGHT_SHOULDER, 0]  # mirror view: her left is on our right
    assert lm[NOSE, 1] < lm[[LEFT_SHOULDER, RIGHT_SHOULDER], 1].min()
    assert 150 < lm[NOSE, 0] < 300  # her face is left of centre in the photo
    assert found.visibility[[NOSE, LEFT_SHOULDER, RIGHT_SHOULDER]].min() > 0.8
    assert found.visibility[[LEFT_ANKLE, RIGHT_ANKLE]].max() < 0.5  # legs are out of frame: MediaPipe says so


def test_a_frame_already_in_rgb_gives_the_same_landmarks(media_dir):
    image = cv2.imread(str(media_dir / "pose.jpg"))
    with PoseDetector() as from_bgr, PoseDetector() as from_rgb:
        expected = from_bgr.detect(image)
        found = from_rgb.detect(image, cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        np.testing.assert_allclose(found.landmarks, expected.landmarks, atol=1e-3)
        with pytest.raises(DetectorError, match="frame_rgb has shape"):
            from_rgb.detect(image, image[:100])


@pytest.mark.parametrize("big_on_the_left", [True, False])
def test_with_two_people_the_most_prominent_is_tracked_consistently(media_dir, big_on_the_left):
    person = cv2.imread(str(media_dir / "pose.jpg"))  # 1000 x 667
    small = cv2.resize(person, None, fx=0.5, fy=0.5)
    canvas = np.full((667, 1600, 3), 200, np.uint8)
    big_x, small_x = (0, 1050) if big_on_the_left else (600, 20)
    canvas[:, big_x:big_x + 1000] = person
    canvas[200:200 + small.shape[0], small_x:small_x + small.shape[1]] = small
    with PoseDetector() as detector:
        pelvis = [detector.detect(canvas).landmarks[[LEFT_HIP, RIGHT_HIP]].mean(axis=0) for _ in range(4)]
    # The big person's hips are at x ~ 493 in the photo; every frame stays on them.
    np.testing.assert_allclose(np.array(pelvis)[:, 0], big_x + 493, atol=15)


def test_no_person_gives_none(detector):
    assert detector.detect(np.full((480, 640, 3), 127, np.uint8)) is None


def test_video_mode_tracks_through_consecutive_frames(detector, media_dir):
    capture = cv2.VideoCapture(str(media_dir / "pose_squats.mp4"))
    noses = []
    for _ in range(6):
        ok, image = capture.read()
        assert ok
        found = detector.detect(image)
        assert found is not None
        noses.append(found.landmarks[NOSE])
    capture.release()
    # Consecutive frames (5 fps) of a squat: the face moves by less than a tenth of the frame.
    steps = np.linalg.norm(np.diff(np.array(noses), axis=0), axis=1)
    assert steps.max() < 0.1 * 1280


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                 np.zeros((0, 10, 3), np.uint8), "frame.jpg"])
def test_frames_that_are_not_bgr_images_are_refused(detector, bad):
    with pytest.raises(DetectorError, match="H x W x 3 uint8"):
        detector.detect(bad)


def test_closed_detector_refuses_work():
    detector = PoseDetector()
    detector.close()
    detector.close()  # closing twice is harmless
    with pytest.raises(DetectorError, match="after close"):
        detector.detect(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize("complexity", [0, 2])
def test_models_that_would_need_a_download_are_refused(complexity):
    if _landmark_model_path(complexity).is_file():
        pytest.skip("this MediaPipe install already has that model")
    with pytest.raises(DetectorError, match="offline.*model_complexity=1"):
        PoseDetector(model_complexity=complexity)


def test_unknown_complexity_is_refused():
    with pytest.raises(DetectorError, match="must be 0, 1 or 2"):
        PoseDetector(model_complexity=5)
