"""An example odibi-stream plugin (see README.md)."""
