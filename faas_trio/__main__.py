"""``python -m faas_trio <command>``: the same as the ``faas-trio`` console script."""

from __future__ import annotations

from faas_trio.cli import main

if __name__ == "__main__":
    main()
