"""Store wing: export sets on disk, the signed manifest, retention, the kit lock.

Rules: only a complete, fsynced set is renamed into `sets/`; LATEST names a
good set only; retention is a pure function with reasons
(docs/store-format.md). May import: base modules, `security`.
"""
