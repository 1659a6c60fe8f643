"""``python -m monge``: the command-line interface (same as the ``monge`` console script)."""

from monge.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
