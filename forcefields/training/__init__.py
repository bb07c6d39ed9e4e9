"""Training: the LightningModule, losses, metrics, optimisers, EMA, symmetry, the trainer.

Importing this package loads Lightning.
"""

from .config import TrainConfig, load_config, save_config
from .ema import ExponentialMovingAverage
from .export import export_model, load_exported
from .losses import EnergyForceLoss
from .metrics import ForceFieldMetrics, errors_of
from .module import MONITOR, ForceFieldModule
from .optim import ScheduleFreeAdamW, build_optimizer
from .symmetry import random_rotations, rotate_batch, symmetry_loss
from .trainer import TrainResult, build_module, build_trainer, initialise_from, train

__all__ = [
    "MONITOR",
    "EnergyForceLoss",
    "ExponentialMovingAverage",
    "ForceFieldMetrics",
    "ForceFieldModule",
    "ScheduleFreeAdamW",
    "TrainConfig",
    "TrainResult",
    "build_module",
    "build_optimizer",
    "build_trainer",
    "errors_of",
    "export_model",
    "initialise_from",
    "load_config",
    "load_exported",
    "random_rotations",
    "rotate_batch",
    "save_config",
    "symmetry_loss",
    "train",
]
