"""Config wing: the kit's nodkit.toml (settings), the TOML reader with
line-precise errors, the built-in and site schedules.

Rules: every error names file, line and key. May import: base modules,
`security`, `store`, `sources`.
"""
