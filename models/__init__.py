"""RepNet in PyTorch: skeleton, data, model, losses, training, evaluation and the shipped weights.

Submodules are imported explicitly (``from models import skeleton``) so that the app can use the
numpy-only ones (skeleton, camera) without pulling in torch.
"""

__version__ = "0.1.0"
