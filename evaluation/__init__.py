"""Evaluations above the app and the training code: real-video checks and the cross-motion protocol."""
