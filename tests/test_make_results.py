"""The results page's judgement of its comparison runs (scripts/make_results.py, whose tables are
evaluation/results_tables.py)."""
from evaluation.results_tables import divergence_note


def _history(mpjpe: list[float]) -> dict:
    return {"eval": [{"step": 800 * (i + 1), "mpjpe": m} for i, m in enumerate(mpjpe)], "wasserstein": [0.3, -40000.0]}


def test_a_run_whose_error_grows_is_marked_diverged_and_others_are_not():
    note = divergence_note(_history([323.0, 312.0, 425.0, 556.0]))
    assert note.startswith("training diverged") and "312 mm at step 1600" in note and "-40,000" in note
    assert divergence_note(_history([190.0, 160.0, 150.0, 153.0])) == ""   # a wobble is not divergence
    assert divergence_note(None) == "" and divergence_note({"eval": []}) == ""
