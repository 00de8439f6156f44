"""Extension points: the Python transform registry and entry-point plugins."""
