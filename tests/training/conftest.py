"""Make the training test helpers importable (pytest prepends this folder to sys.path)."""
