"""Lists wing: list templates, field types and their Danish formatting, and
validation of source rows against a template (flags, sections, sort order).

Rules: a row with a problem is flagged, never dropped; messages never hold a
value (values are personal data). May import: base modules, `security`,
`store`, `sources`, `config`.
"""
