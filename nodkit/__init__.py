"""nodkit — offline emergency continuity kit for municipal IT outages.

A scheduled job exports the day's emergency lists to AES-256 encrypted PDFs,
seals each export set with a signed manifest and keeps 7 days of them, so staff
can print from a standalone PC when the network, the care record or the power
is gone.
"""

__version__ = "0.1.0"
