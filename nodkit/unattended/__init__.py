"""Unattended wing: the APScheduler loop (`nodkit run`) with catch-up and
retries, and the operating-system service unit.

Rules: calls the same library functions as the CLI; one instance at a time.
May import every wing below it (up to and including `monitoring`).
"""
