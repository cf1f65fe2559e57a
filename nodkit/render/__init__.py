"""Render wing: PDF rendering with reportlab: page frame, row tables, fonts,
page codes, binders, the printing guide, and the render processes.

Rules: render in memory; a PDF is encrypted before it is written. May import:
base modules, `security`, `store`, `sources`, `config`, `lists`.
"""

from reportlab import rl_config

# Page streams are Flate-compressed binary, not also ASCII85-wrapped (reportlab's
# default, rl_settings.useA85): ASCII85 makes every stream a quarter larger and,
# being a filter qpdf decodes, made pikepdf decompress and recompress every page
# when encrypting a list or assembling a binder (half of that work; docs/performance.md).
rl_config.useA85 = 0

from nodkit.render.document import RenderResult, render_unit

__all__ = ["RenderResult", "render_unit"]
