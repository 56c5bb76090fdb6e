"""What an operator watches: Prometheus metrics, request ids and structured log lines.

`metrics` counts what each process does and exposes it (across the processes of one
`metering serve --workers N`); `logs` writes one JSON object a line with the request id of
the request being handled; `requests` gives each request its id and times it by route.
What the database holds (job records, webhook backlog, payment links) is read at scrape
time by `metering.surfaces.monitoring`.
"""
