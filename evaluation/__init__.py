"""Evaluations above the app and the training code, one module per concept.

  held_out.py      python -m evaluation.held_out: a lifter on the field's protocols (CMU held-out
                   subjects, Human3.6M, MPI-INF-3DHP) under every 2D input condition
  predictors.py    the lifters it scores (ONNX, checkpoint, mean pose), pixels -> camera-frame mm
  protocols.py     the protocols' test sets
  conditions.py    the 2D input conditions (as given, jitter, dropped joints)
  scoring.py       metrics per condition, joint and action; the headline condition
  tables.py        a report as markdown
  machine.py       the machine a figure was measured on
  cross_motion.py  python -m evaluation.cross_motion: motion never seen in training
  real_video.py    python -m evaluation.real_video: checks on real video without ground truth
  report.py        python -m evaluation.report: writes docs/generalization.md
  results_*.py     the steps of scripts/make_results.py, which writes docs/results.md:
    results_runs.py    the comparison runs (ablations, baselines): trained, or reused while unchanged
    results_rows.py    every compared model evaluated, its JSON report and command kept
    results_tables.py  the comparison and ablation tables
    results_plots.py   the figures and the qualitative frames (app.draw.draw_annotated)
    results_page.py    the page, section by section
"""
