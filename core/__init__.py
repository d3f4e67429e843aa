"""The foundation every part of the project stands on, torch-free (numpy and onnxruntime only):
the skeleton, the camera frames, the pose metrics, and the lifter contract with its runtime.

Layers point one way: app, models (training), export and evaluation import core; core imports
none of them.
"""
