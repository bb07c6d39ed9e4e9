"""The benchmark harness: throughput and force error, side by side with peers.

>>> from forcefields.bench import SpeedSettings, run_speed, build_report   # doctest: +SKIP
>>> run_speed(SpeedSettings(models="egnn-s,esen-l2-s", device="cpu"))     # doctest: +SKIP
>>> build_report("benchmarks/results")                                     # doctest: +SKIP

Modules: ``timing`` (the timing protocol), ``memory`` (peak memory),
``machine`` (what ran it), ``systems`` (the structures), ``speed`` and
``accuracy`` (the two benchmarks), ``peers`` and ``peer_runner_mace`` (peer
models in their own environment), ``schema`` and ``store`` (result files),
``collect``, ``plots`` and ``report`` (tables and figures).
"""

from __future__ import annotations

from .._lazy import lazy_exports


_EXPORTS = {
    "SpeedSettings": "speed",
    "run_speed": "speed",
    "AccuracySettings": "accuracy",
    "run_accuracy": "accuracy",
    "PUBLISHED": "accuracy",
    "build_report": "report",
    "validate": "schema",
    "SchemaError": "schema",
    "load_results": "store",
    "measure": "timing",
    "Timing": "timing",
    "PeakMemory": "memory",
    "machine_info": "machine",
    "device_label": "machine",
    "water_droplet": "systems",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
