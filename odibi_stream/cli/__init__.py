"""The ``odibi-stream`` command-line interface (one module per command family)."""
