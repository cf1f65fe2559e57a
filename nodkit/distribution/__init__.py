"""Distribution wing: one exporter, many print stations (docs/distribution.md).

`transport` reads the exporter's published store over HTTP(S) or from a
mounted share, with size caps, timeouts and TLS verification; `sync` is the
station's side (download only its files, check them against the signed
manifest, refuse rollback and foreign keys, publish with the export's write
order); `station` sets a station kit up; `fleet` is the signed status a
station reports and the exporter's view of all of them.
May import: base modules, `security`, `store`, `config`.
"""
