"""regiongan studio: a local web app for region-level editing (``regiongan studio``; docs/studio.md).

``session`` (per-session state and the edit stack; pure Python), ``panels`` (one panel per registered
operation), ``security`` (bind address, folder confinement, checkpoint cap), ``export`` (the stack as one
recipe: the ``stack.apply`` operation of :mod:`regiongan.methods.stack`), ``app`` (the Gradio Blocks; imports gradio, which is the
``studio`` extra). Importing this package does not import gradio.
"""

from __future__ import annotations

from .export import STACK_METHOD, export_stack, stack_recipe
from .session import EditStack, ModelCache, StackError, Step, StudioSession

__all__ = ["STACK_METHOD", "export_stack", "stack_recipe", "EditStack", "ModelCache", "StackError", "Step", "StudioSession"]
