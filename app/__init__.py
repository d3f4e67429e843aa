"""The live and video application: frame sources, 2D keypoints, the H36M-17 mapping, occlusion
handling and smoothing, the lifter runtime, result writers, the threaded pipeline and the viewer.

Modules read top to bottom in the order a frame travels:
capture -> keypoints -> mapping -> occlusion -> smoothing -> lifter -> results / viewer;
pipeline ties them together and run_demo.py is the command line.
"""
