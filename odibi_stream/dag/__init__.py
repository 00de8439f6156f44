"""dag package."""
