"""Part parsers: segment images into a procedural world's parts and embed them for FD-parser.

::

    from regiongan.parser import load_parser, evaluate_parser
    parser = load_parser("parser-faces-64")          # shipped in regiongan/models/parser-faces-64
    labels = parser.parse(images)                    # [N, 3, H, W] in [-1, 1] -> [N, H, W] int64
    mouth = parser.part_masks(images, "mouth")       # [N, 1, H, W] float, e.g. Region(mouth)
    feats = parser.features(images)                  # [N, D] global-pooled bottleneck features
    evaluate_parser(parser, "faces", count=1000)     # {"miou", "per_part_iou", "pixel_acc", ...}

    # Fréchet distance in parser feature space between a generator and its world, and the floor:
    fd_parser(lambda n: G(torch.randn(n, G.z_dim)), parser, count=1000)
    fd_parser_floor(parser, "faces", count=1000)

Train one with ``python -m regiongan.parser train --world faces --steps 1500 --out DIR`` (see
``docs/parser.md``). The network is in :mod:`.model`, the checkpoint format in :mod:`.checkpoint`,
training and evaluation in :mod:`.training`, FD-parser in :mod:`.metrics`.
"""

from .checkpoint import list_parsers, load_parser, save_parser
from .metrics import fd_parser, fd_parser_floor, parser_feature_statistics, parser_features, pr_parser, world_feature_statistics
from .model import ParserOutput, PartParser
from .training import evaluate_parser, images_to_tensor, train_parser

__all__ = [
    "PartParser", "ParserOutput", "load_parser", "save_parser", "list_parsers", "train_parser", "evaluate_parser",
    "images_to_tensor", "fd_parser", "fd_parser_floor", "parser_feature_statistics", "world_feature_statistics",
    "parser_features", "pr_parser",
]
