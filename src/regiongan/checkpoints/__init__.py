"""Loading and saving models: our safetensors format and real-world formats, all without running code."""

from .errors import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError
from .loading import FORMATS, MODELS_DIR, detect_format, list_models, load_model, shipped_model_dir
from .native import load_pretrained, save_pretrained

__all__ = [
    "CheckpointError", "CorruptCheckpointError", "UnsafeCheckpointError", "FORMATS",
    "detect_format", "list_models", "load_model", "shipped_model_dir", "MODELS_DIR", "load_pretrained", "save_pretrained",
]
