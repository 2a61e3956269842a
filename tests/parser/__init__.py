"""Part parser: model, checkpoints, training, evaluation, FD-parser, command line."""
