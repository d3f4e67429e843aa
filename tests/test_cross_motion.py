"""The cross-motion protocol: who is held out, who trains, and what is scored."""
import numpy as np
import pytest

from evaluation import cross_motion
from models.data import cmu


@pytest.mark.parametrize("group", list(cmu.ACTIVITY_GROUPS))
def test_each_group_is_held_out_whole_and_the_rest_split_without_overlap(cmu_trials, group):
    held, critic, projection = cross_motion.split(cmu_trials, group)
    subjects = {t.split("_")[0] for t in cmu_trials}
    assert held and set(held) | set(critic) | set(projection) == subjects
    assert not (set(held) & set(critic)) and not (set(held) & set(projection)) and not (set(critic) & set(projection))
    # nobody who trains performs the held-out activity, and every take of it is scored
    trained_takes = [t for t in cmu_trials if t.split("_")[0] in critic + projection]
    assert all(cmu.activity_group(t) != group for t in trained_takes)
    frames = sum(len(p) for t, p in cmu_trials.items() if t.split("_")[0] in critic)
    others = sum(len(p) for t, p in cmu_trials.items() if t.split("_")[0] in projection)
    assert 0.5 < frames / others < 2.0   # both sides of the weak supervision get a fair share


def test_test_frames_come_from_the_group_only(cmu_trials):
    world = cross_motion.test_frames(cmu_trials, "yoga")
    yoga = cmu_trials["144_30"]
    assert 0 < len(world) <= cross_motion.MAX_TEST_FRAMES
    assert np.isin(world[:, 0, 0], yoga[:, 0, 0]).all()


def test_unknown_group_is_a_one_line_error(capsys):
    assert cross_motion.main(["--groups", "juggling"]) == 2
    assert "unknown group" in capsys.readouterr().err


def test_the_reference_is_summed_up_on_the_groups_it_never_saw():
    def row(group, seen, ref, base, rep):
        return {"group": group, "reference": {"mpjpe": ref[0], "pa_mpjpe": ref[1], "saw_these_people": seen},
                "baseline": {"mpjpe": base[0], "pa_mpjpe": base[1]}, "repnet": {"mpjpe": rep[0], "pa_mpjpe": rep[1]}}
    rows = [row("walk", ["02"], (10.0, 5.0), (20.0, 10.0), (30.0, 15.0)),     # seen: left out
            row("yoga", [], (120.0, 90.0), (100.0, 60.0), (200.0, 100.0)),
            row("dance", [], (80.0, 70.0), (100.0, 80.0), (150.0, 90.0))]
    text = cross_motion.unseen_by_reference(rows)
    assert text.startswith("On the 2 groups")
    assert "100.0 / 80.0 mm" in text and "100.0 / 70.0 and" in text and "175.0 / 95.0" in text
    assert "1.14 in PA-MPJPE and 1.00 in the camera frame" in text
    assert cross_motion.unseen_by_reference(rows[:1]) == ""
