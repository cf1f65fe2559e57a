"""Printing wing: spooler backends (CUPS, command), decrypting in memory and
streaming to the spooler, and the hash-chained audit log.

Rules: no plaintext on disk; every decrypt and print is recorded. May import:
base modules, `security`, `store`, `sources`, `config`, `lists`, `render`,
`export`.
"""
