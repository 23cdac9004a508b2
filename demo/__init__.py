"""The SR-NAM Gradio demo: ``build_demo(pipe)`` makes the page; ``app.py`` (the Space entry point) serves it."""
from .serving import Limits, ServerNotice, launch
from .ui import build_demo

__all__ = ["Limits", "ServerNotice", "build_demo", "launch"]
