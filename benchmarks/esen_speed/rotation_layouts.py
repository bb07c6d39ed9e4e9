"""Ways to compute the edge-frame rotation, a batch of (9, 9) @ (9, C) products, timed in isolation.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esen_speed/rotation_layouts.py --edges 2336

The rotation of an esen-l2 training step at batch 16 (2336 framed edges, ℓ ≤ 2 so
K = 9 rows, 32 channels: [h_src | h_dst] of 16) as ``torch.bmm``, and layouts
that might do it faster on a CPU: products per degree (the matrix is block
diagonal: 1 + 3x3 + 5x5), an elementwise broadcast sum, a grouped 1x1
convolution, the transposed layout, two halves of 16 channels as separate
edges, and ``bmm`` with oneDNN switched off. Random numbers, float32, one
thread; prints the minimum and median over rounds (ms per call), every variant
timed in each round. Operands stay in cache here, unlike in a training step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def variants(edges: int, channels: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(edges, 9, 9, generator=gen)
    x = torch.randn(edges, 9, channels, generator=gen)
    m1, m2 = m[:, 1:4, 1:4].contiguous(), m[:, 4:9, 4:9].contiguous()
    grouped = m.reshape(edges * 9, 9, 1)
    x_t, m_t = x.transpose(1, 2).contiguous(), m.transpose(1, 2).contiguous()
    halves = torch.cat(x.chunk(2, dim=-1), dim=0).contiguous()
    m_twice = torch.cat([m, m], dim=0)

    def without_onednn():
        with torch.backends.mkldnn.flags(enabled=False):
            return torch.bmm(m, x)

    return {
        "bmm (E, 9, 9) @ (E, 9, C)": lambda: torch.bmm(m, x),
        "bmm, oneDNN off": without_onednn,
        "per degree: 1 + bmm 3x3 + bmm 5x5, cat": lambda: torch.cat(
            [x[:, :1] * m[:, :1, :1], torch.bmm(m1, x[:, 1:4]), torch.bmm(m2, x[:, 4:9])], dim=1),
        "bmm 3x3 alone (l = 1)": lambda: torch.bmm(m1, x[:, 1:4]),
        "bmm 5x5 alone (l = 2)": lambda: torch.bmm(m2, x[:, 4:9]),
        "elementwise: (M[..., None] * x[:, None]).sum(2)": lambda: (m.unsqueeze(-1) * x.unsqueeze(1)).sum(2),
        "grouped 1x1 conv1d": lambda: F.conv1d(x.reshape(1, edges * 9, channels), grouped, groups=edges),
        "transposed: (E, C, 9) @ (E, 9, 9)": lambda: torch.bmm(x_t, m_t),
        "two halves as 2E edges of C/2": lambda: torch.bmm(m_twice, halves),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", type=int, default=2336)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20, help="calls per timing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = variants(args.edges, args.channels)
    times = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            fn()
            start = time.perf_counter()
            for _ in range(args.calls):
                fn()
            times[name].append(1e3 * (time.perf_counter() - start) / args.calls)
    print(f"{args.edges} edges, {args.channels} channels: ms per call, minimum / median over {args.rounds} rounds")
    for name, values in times.items():
        print(f"  {name:50s} {min(values):7.3f} / {statistics.median(values):7.3f}")


if __name__ == "__main__":
    main()
