"""PDF rendering with reportlab: page frame, row tables, fonts."""

from reportlab import rl_config

# Page streams are Flate-compressed binary, not also ASCII85-wrapped (reportlab's
# default, rl_settings.useA85): ASCII85 makes every stream a quarter larger and,
# being a filter qpdf decodes, made pikepdf decompress and recompress every page
# when encrypting a list or assembling a binder (half of that work; docs/performance.md).
rl_config.useA85 = 0

from .document import RenderResult, render_unit

__all__ = ["RenderResult", "render_unit"]
