"""Python transforms of the quickstart project (importable because the runtime adds the project folder to sys.path)."""
