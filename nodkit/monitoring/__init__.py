"""Monitoring wing: `verify` (Nagios/Icinga levels and exit codes), `status`
for IT, the Prometheus textfile and the heartbeat record the scheduler writes.

Rules: never a false OK; never personal data in output. May import every
wing below it: base modules, `security`, `store`, `sources`, `config`,
`lists`, `render`, `export`, `printing`.
"""
