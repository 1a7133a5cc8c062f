"""The load-test kit: drives a faas-trio platform (or the bare baseline app) over HTTP and
writes a report of latency, throughput and memory figures against the project's targets.

Run it with ``python -m load.run`` (see ``load/README.md``).
"""
