"""Data: procedural part-annotated worlds, image folders, export and previews."""

from .export import LABEL_PALETTE, colorize_labels, export_world, preview_grid
from .folder import ImageFolderDataset
from .worlds import World, WorldDataset, WorldSample, get_world, list_worlds

__all__ = [
    "World",
    "WorldSample",
    "WorldDataset",
    "get_world",
    "list_worlds",
    "ImageFolderDataset",
    "export_world",
    "preview_grid",
    "colorize_labels",
    "LABEL_PALETTE",
]
