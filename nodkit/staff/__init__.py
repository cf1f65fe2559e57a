"""Staff wing: what staff see during an outage: the Danish print menu, the
print kiosk in the browser (kiosk/) and the desktop launcher.

Rules: Danish on everything shown; no shell commands asked of staff. May
import every wing below it (up to and including `unattended`).
"""
