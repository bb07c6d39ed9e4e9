"""Time of a training step per aten operator and operand shapes (a TorchDispatchMode timer).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/op_times.py esen-l2-xs --batch 16 --shapes all

The training step is the one of ``profile_esen.py`` (forward, conservative forces with
``create_graph``, loss, backward to the parameters), on a batch of aspirin copies,
float32, one thread. Every aten call is timed by wall clock inside a
``TorchDispatchMode`` and summed by operator, and with ``--shapes`` (operator names,
or ``all``) also by operator and operand shapes. ``torch.profiler`` inflated the step
threefold on this machine; this timer adds its own Python cost per call too, so read
the operator totals against each other and the "aten total" against another run of
this script, not against the step time of other scripts.

Each call's memory traffic is counted too (MB read and written: the bytes of its tensor
operands and results, zero for results that are views of an operand). Unlike the times,
these counts do not move with the machine's load, so they compare two versions of the
code exactly.
"""

from __future__ import annotations

import argparse
import collections
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from forcefields.allocator import tune_malloc
from forcefields.models import create_model
from forcefields.training.losses import EnergyForceLoss
from profile_esen import aspirin, train_step, training_batch


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _traffic_bytes(args, out) -> int:
    """Bytes of the operands plus those of the results that are not views of an operand."""
    inputs = _tensors(args)
    storages = {t.untyped_storage().data_ptr() for t in inputs}
    written = [t for t in _tensors(out) if t.untyped_storage().data_ptr() not in storages]
    if len(written) == 0:
        return 0  # a view (or an in-place update, which esen's steps do not make)
    return sum(t.numel() * t.element_size() for t in inputs + written)


def _shape(arg) -> object:
    if isinstance(arg, torch.Tensor):
        return tuple(arg.shape)
    if isinstance(arg, (list, tuple)) and arg and isinstance(arg[0], torch.Tensor):
        return tuple(tuple(a.shape) for a in arg)
    return str(arg)


class OperatorTimer(TorchDispatchMode):
    """Sums the wall time of every aten call by operator, and by operator and shapes for ``shapes``."""

    def __init__(self, shapes: set[str]):
        super().__init__()
        self.shapes = shapes
        self.seconds: dict = collections.defaultdict(float)
        self.calls: collections.Counter = collections.Counter()
        self.bytes: collections.Counter = collections.Counter()

    def keys(self, func, args) -> list:
        """What this call's time counts for: its operator, and its operator and shapes when asked."""
        name = func.overloadpacket.__name__
        keys = [name]
        if name in self.shapes or "all" in self.shapes:
            keys.append((name, tuple(_shape(a) for a in args)))
        return keys

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        elapsed = time.perf_counter() - start
        moved = _traffic_bytes(args, out)
        for key in self.keys(func, args):
            self.seconds[key] += elapsed
            self.calls[key] += 1
            self.bytes[key] += moved
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", nargs="*", default=[], help="operators to break down by shapes, or all")
    parser.add_argument("--rows", type=int, default=30)
    args = parser.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = create_model(args.model)
    model.train()
    loss_fn = EnergyForceLoss()
    batch = training_batch(args.batch, aspirin())
    for _ in range(3):
        train_step(model, loss_fn, batch)
    timer = OperatorTimer(set(args.shapes))
    start = time.process_time()
    with timer:
        for _ in range(args.repeats):
            train_step(model, loss_fn, batch)
    step_ms = (time.process_time() - start) / args.repeats * 1e3
    per_step = {k: v / args.repeats * 1e3 for k, v in timer.seconds.items()}
    operators = {k: v for k, v in per_step.items() if isinstance(k, str)}
    megabytes = {k: timer.bytes[k] / args.repeats / 1e6 for k in timer.bytes}
    print(f"{args.model}, batch {args.batch}: step {step_ms:.1f} ms CPU under the timer, "
          f"aten total {sum(operators.values()):.1f} ms, {sum(timer.calls[k] for k in operators) // args.repeats} calls, "
          f"{sum(megabytes[k] for k in operators):.0f} MB read and written")
    print(f"{'operator':24s} {'ms/step':>8s} {'calls':>6s} {'MB':>8s}")
    for name, ms in sorted(operators.items(), key=lambda kv: -kv[1])[: args.rows]:
        print(f"{name:24s} {ms:8.2f} {timer.calls[name] // args.repeats:6d} {megabytes[name]:8.1f}")
    detailed = {k: v for k, v in per_step.items() if not isinstance(k, str)}
    if detailed:
        print(f"\n{'operator and operand shapes':100s} {'ms/step':>8s} {'calls':>6s} {'MB':>8s}")
        for key, ms in sorted(detailed.items(), key=lambda kv: -kv[1])[: args.rows]:
            print(f"{str(key)[:100]:100s} {ms:8.2f} {timer.calls[key] // args.repeats:6d} {megabytes[key]:8.1f}")


if __name__ == "__main__":
    main()
