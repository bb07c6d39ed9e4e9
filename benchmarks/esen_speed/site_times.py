"""Time of a training step by the line of our code that made each operator, backward passes included.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/site_times.py esen-l2-xs --batch 16

``op_times.py`` sums a training step's aten time by operator; this script sums it
by *where the work comes from*. Every aten call of the step is timed (wall clock,
inside a ``TorchDispatchMode``) and given a site: in the forward pass (``F``), the
last line under ``forcefields/`` on the Python stack; in a backward pass, the
forward line that built the autograd node being run, read from the node's
anomaly-mode traceback. A node that the force backward itself created (its
derivative, run by the backward to the parameters) is followed to the forward
node it differentiates, so its work counts for that forward line too, in phase
``B2``; ``B1`` is work of nodes built by the forward pass, in either backward
(the force pass, and again in the backward to the parameters, which crosses the
forward graph a second time). Nodes that a custom autograd Function's backward
builds (``frame_product``, ``_ScaleBothHalves``) keep the line in that backward. The step is ``profile_esen.py``'s, on a batch of
aspirin copies, float32, one thread.

Anomaly mode adds its own cost to every node and this timer adds Python time to
every call: compare the sites with each other, not with step times of other scripts.
"""

from __future__ import annotations

import argparse
import collections
import traceback
import warnings

import torch

from forcefields.allocator import tune_malloc
from forcefields.models import create_model
from forcefields.training.losses import EnergyForceLoss
from op_times import OperatorTimer
from profile_esen import aspirin, train_step, training_batch

PACKAGE = "/forcefields/"


def _line_in_package(frames: list[tuple[str, int]]) -> str | None:
    """``file:line`` of the innermost frame inside the package, relative to it (None if there is none)."""
    for filename, lineno in reversed(frames):
        if PACKAGE in filename:
            return f"{filename.split(PACKAGE)[-1]}:{lineno}"
    return None


def _traceback_frames(lines: list[str]) -> list[tuple[str, int]]:
    """(file, line) pairs of a formatted traceback, as anomaly mode stores it."""
    frames = []
    for line in "".join(lines).splitlines():
        line = line.strip()
        if line.startswith('File "') and ", line " in line:
            filename = line.split('"')[1]
            frames.append((filename, int(line.split(", line ")[1].split(",")[0])))
    return frames


def node_site(node, force_grad_line: str) -> tuple[str, str]:
    """(phase, forward line) of the autograd node the engine is running.

    A node whose traceback ends at the force ``autograd.grad`` call
    (``force_grad_line``) was created by the force backward: follow its parents
    to the forward node whose derivative it is.
    """
    metadata, phase = node.metadata, 1
    site = _line_in_package(_traceback_frames(metadata.get("traceback_", [])))
    while site == force_grad_line and metadata.get("parent_") is not None:
        metadata, phase = metadata["parent_"].metadata, phase + 1
        site = _line_in_package(_traceback_frames(metadata.get("traceback_", [])))
    return f"B{min(phase, 2)}", site or node.name()


class SiteTimer(OperatorTimer):
    """Sums the wall time, calls and memory traffic of every aten call by (phase, site, operator)."""

    def __init__(self, force_grad_line: str):
        super().__init__(shapes=set())
        self.force_grad_line = force_grad_line

    def keys(self, func, args) -> list:
        node = torch._C._current_autograd_node()
        if node is None:
            frames = [(f.filename, f.lineno) for f in traceback.extract_stack()]
            phase, site = "F", _line_in_package(frames) or "?"
        else:
            phase, site = node_site(node, self.force_grad_line)
        return [(phase, site, func.overloadpacket.__name__)]


def _force_grad_line() -> str:
    """``models/base.py:N``, the line of ``ForceField.forward`` that calls ``torch.autograd.grad``."""
    import inspect

    from forcefields.models.base import ForceField

    lines, first = inspect.getsourcelines(ForceField.forward)
    offset = next(i for i, line in enumerate(lines) if "torch.autograd.grad(" in line)
    return f"models/base.py:{first + offset}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=30)
    args = parser.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = create_model(args.model).train()
    loss_fn = EnergyForceLoss()
    batch = training_batch(args.batch, aspirin())
    for _ in range(2):
        train_step(model, loss_fn, batch)
    timer = SiteTimer(_force_grad_line())
    warnings.filterwarnings("ignore", message="Anomaly Detection has been enabled")
    with torch.autograd.detect_anomaly(check_nan=False), timer:
        for _ in range(args.repeats):
            train_step(model, loss_fn, batch)
    ms = {k: 1e3 * v / args.repeats for k, v in timer.seconds.items()}
    mb = {k: timer.bytes[k] / args.repeats / 1e6 for k in timer.bytes}
    phases = collections.defaultdict(float)
    lines = collections.defaultdict(lambda: [0.0, 0.0, collections.defaultdict(float)])
    for (phase, site, op), t in ms.items():
        phases[phase] += t
        entry = lines[site]
        entry[0] += t
        entry[1] += mb[(phase, site, op)]
        entry[2][f"{phase} {op}"] += t
    print(f"{args.model}, batch {args.batch}: aten total {sum(ms.values()):.1f} ms per step, "
          f"{sum(timer.calls.values()) // args.repeats} calls; by phase: "
          + ", ".join(f"{p} {phases[p]:.1f} ms" for p in ("F", "B1", "B2") if p in phases))
    print(f"{'forward line':34s} {'ms/step':>8s} {'MB':>7s}  largest parts")
    for site, (t, moved, parts) in sorted(lines.items(), key=lambda kv: -kv[1][0])[: args.rows]:
        top = sorted(parts.items(), key=lambda kv: -kv[1])[:4]
        print(f"{site:34s} {t:8.2f} {moved:7.0f}  " + ", ".join(f"{k} {v:.1f}" for k, v in top))


if __name__ == "__main__":
    main()
