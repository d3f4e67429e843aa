"""Checkpoint to ONNX: `python -m export --checkpoint PATH --output PATH.onnx`."""
