"""The live and video application: frame sources, 2D keypoints, the H36M-17 mapping, occlusion
handling and smoothing, the camera lock, world space, result writers, the threaded pipeline, the
viewer, batches and the command line. It imports core (never torch, models, export or evaluation).

Modules read top to bottom in the order a frame travels:
capture -> keypoints -> mapping -> occlusion -> smoothing -> (core.lifter) -> camera_lock -> world
-> results / results_writer / viewer / video_writer; estimator runs one frame through all of them,
pipeline runs the threaded loop, batch (batch_plan, batch_unit, ray_batch) runs many videos, and
cli (arguments, cli_checks, cli_batch) is the command line behind run_demo.py and `repnet-live`.
"""
