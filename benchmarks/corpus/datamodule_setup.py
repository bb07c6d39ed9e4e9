"""How long the datamodule takes to set up the corpus, and its peak memory (the issue's: < 1 min, < 4 GB).

    OMP_NUM_THREADS=1 python benchmarks/corpus/datamodule_setup.py corpus/qm9-xtb

Runs setup twice in fresh processes: with an empty graph cache (graphs built)
and with the cache from the first (graphs loaded). Prints and merges the
figures into ``benchmarks/corpus/datamodule_setup.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = """
import json, resource, sys, time
import torch
torch.set_num_threads(1)
t0 = time.perf_counter()
from forcefields import MolecularDataModule
dm = MolecularDataModule("xtb:" + sys.argv[1], cutoff=5.0, batch_size=16, verbose=False)
dm.setup()
seconds = time.perf_counter() - t0
d = dm.describe()["xtb:" + sys.argv[1]]
print(json.dumps({"seconds": round(seconds, 1), "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
                  "frames": {k: d[k] for k in ("train", "val", "test")}, "cache_hit": d["cache_hit"]}))
"""


def main(argv=None) -> int:
    corpus = (argv or sys.argv[1:] or ["corpus/qm9-xtb"])[0]
    out = {}
    with tempfile.TemporaryDirectory(prefix="ff-cache-") as cache:
        env = dict(os.environ, FORCEFIELDS_CACHE=cache, OMP_NUM_THREADS="1")
        for label in ("cold cache (graphs built)", "warm cache (graphs loaded)"):
            proc = subprocess.run([sys.executable, "-c", CHILD, corpus], env=env, capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(proc.stderr[-2000:])
            out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(label, out[label], flush=True)
    (HERE / "datamodule_setup.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
