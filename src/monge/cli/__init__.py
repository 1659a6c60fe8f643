"""Command-line interface: ``monge bench``, ``monge results``."""
