"""PDF rendering with reportlab: page frame, row tables, fonts."""

from .document import RenderResult, render_unit

__all__ = ["RenderResult", "render_unit"]
