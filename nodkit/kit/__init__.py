"""Kit wing: creating a kit home (`init`) and the demo kit with synthetic data.

May import every wing below it (up to and including `staff`).
"""
