"""Security wing: PDF standard encryption, signing keys, the password book,
reading a PDF's security dictionary without its password, and who may read
what in a kit home (`access`: the service account and the staff group).

Rules: secrets never reach a log or an exception message; key files are
written 0600 through `nodkit.fsutil`. May import only the base modules
(`nodkit.errors`, `nodkit.fsutil`, `nodkit.resources`).
"""
