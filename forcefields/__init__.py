"""forcefields: a PyTorch Lightning model zoo of neural force fields."""

__version__ = "0.1.0"
