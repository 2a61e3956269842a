"""Region methods, one package each; importing this package registers all their operations.

Each method plugs into the :class:`~regiongan.generators.base.Generator` protocol, the region types and
the method registry (:mod:`regiongan.registry`); none reaches into a model's internals. Shared input
handling is in :mod:`.inputs`, plain generation in :mod:`.sampling`.
"""

from . import editing_in_style, itan, resefa, sampling, spade, ssn, stack  # noqa: F401  (registration)

__all__ = ["editing_in_style", "itan", "resefa", "sampling", "spade", "ssn", "stack"]
