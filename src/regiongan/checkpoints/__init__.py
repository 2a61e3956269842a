"""Loading and saving models: our safetensors format and real-world formats, all without running code."""

from .errors import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError
from .loading import FORMATS, detect_format, list_models, load_model
from .native import load_pretrained, save_pretrained

__all__ = [
    "CheckpointError", "CorruptCheckpointError", "UnsafeCheckpointError", "FORMATS",
    "detect_format", "list_models", "load_model", "load_pretrained", "save_pretrained",
]
