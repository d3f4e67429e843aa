"""The training side: RepNet in PyTorch, its data readers, losses, training loop and the numbers
training reports, and the shipped weights. The app never imports it (core is the foundation).
"""

__version__ = "0.1.0"
