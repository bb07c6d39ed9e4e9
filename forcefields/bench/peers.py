"""Peer models timed on exactly our structures, in their own Python environment.

Protocol ``forcefields.bench.peer/1``
-------------------------------------
1. The harness writes every structure it times to one extxyz file; each frame
   carries ``bench_point`` (int) in its info, and a point is one timed call
   (a molecule, a batch of molecules, a droplet).
2. It writes a request JSON::

       {"protocol": "forcefields.bench.peer/1",
        "structures": "/abs/structures.extxyz",
        "output": "/abs/peer-output.json",
        "points": [{"point": 0, "regime": "md", "system": "ethanol",
                    "n_atoms": 9, "n_molecules": 1}, ...],
        "settings": {"device", "dtype", "warmup", "repeats", "min_repeats",
                     "max_time_per_point_s", "max_call_s", "time_budget_s",
                     "compile_modes", "seed", "threads"},
        "models": [{"channels": 64, "max_L": 1, "num_interactions": 2,
                    "cutoff": 5.0}, ...]}

3. It runs ``<peer python> <runner script> request.json`` (after a
   ``<peer python> <runner script> --check`` before anything is timed, so a
   peer interpreter without its package fails in a second). The runner exits 0
   after writing the output JSON; 3 (with one line on stderr) when the peer
   package is not importable; any other code is a failure whose last stderr
   line is reported.
4. The output JSON::

       {"protocol": "forcefields.bench.peer/1",
        "peer": {"name", "package", "package_version", "versions", ...},
        "records": [{"model", "family", "params", "config", "compile",
                     "compile_status", "point", "status", "reason",
                     "median_s", "p10_s", "p90_s", "mean_s", "std_s",
                     "repeats", "warmup", "first_call_s",
                     "peak_mem_mb", "mem_method"}, ...]}

   The harness turns each record into a speed record of the same run
   (``source: "peer"``), so ratios against the peer compare one run only.

Side by side (``--side-by-side``)
---------------------------------
So that a peer takes its turns among our models at every point instead of
running after them, the harness starts ``<peer python> <runner script>
request.json --serve`` once (:class:`PeerServer`) and drives it with one JSON
line per command on the runner's stdin, one answer line on its stdout
(``peer_common.serve``; the runner's answers start with
``@forcefields.bench.peer `` and other stdout lines are ignored): the runner builds its models and says
``{"ready": true, "peer": {...}, "units": [{"model", "family", "params",
"config", "compile"}, ...]}``; then ``warm`` (make a point's call, warm it up,
read its peak memory), ``burst`` (``count`` timed calls, their times returned)
and ``quit``. The runner times its own calls, so the pipe's latency is never
in a timing.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from .timing import Timing
from .units import peer_base, record

__all__ = ["PROTOCOL", "PEER_RUNNERS", "runner_path", "write_request", "run_peer", "peer_records", "preflight", "check_output",
           "PeerServer"]

PROTOCOL = "forcefields.bench.peer/1"
SERVE_PREFIX = "@forcefields.bench.peer "  # as in peer_common: marks the runner's answers in serve mode

# peer name -> runner script in this package
PEER_RUNNERS = {"mace": "peer_runner_mace.py", "nequip": "peer_runner_nequip.py"}

_PEER_RECORD_FIELDS = ("model", "family", "params", "compile", "point", "status")


def runner_path(peer: str) -> Path:
    """The runner script of a peer.

    Raises
    ------
    KeyError : no runner for that peer
    """
    if peer not in PEER_RUNNERS:
        raise KeyError(f"unknown peer {peer!r}; known peers: {', '.join(sorted(PEER_RUNNERS))}.")
    return Path(__file__).with_name(PEER_RUNNERS[peer])


def write_request(
    folder: str | Path,
    points: list[tuple[dict, list]],
    settings: dict,
    models: list[dict],
) -> Path:
    """Write the structures file and the request; return the request's path.

    Parameters
    ----------
    folder : where to write (a temporary folder of the run)
    points : (point header, list of ase.Atoms); the header has ``regime``,
        ``system``, ``n_atoms``, ``n_molecules``; ``point`` is set here
    settings : timing settings (see the module docstring)
    models : peer model configurations
    """
    from ase.io import write

    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    headers = []
    for k, (header, atoms_list) in enumerate(points):
        headers.append(dict(header, point=k))
        for atoms in atoms_list:
            a = atoms.copy()
            a.info = {"bench_point": k}
            frames.append(a)
    structures = folder / "structures.extxyz"
    write(structures, frames, format="extxyz")
    request = {
        "protocol": PROTOCOL,
        "structures": str(structures),
        "output": str(folder / "peer-output.json"),
        "points": headers,
        "settings": settings,
        "models": models,
    }
    path = folder / "request.json"
    path.write_text(json.dumps(request, indent=1), encoding="utf-8")
    return path


def run_peer(
    python: str | Path,
    request_path: str | Path,
    runner: str | Path,
    timeout_s: float | None = None,
) -> dict:
    """Run a peer runner under the peer's interpreter and return its checked output.

    Raises
    ------
    FileNotFoundError : the interpreter does not exist
    ValueError : the peer package is not importable there (runner exit 3),
        or the output breaks the protocol
    RuntimeError : the runner failed or timed out
    """
    python = Path(python)
    if not python.is_file() or not os.access(python, os.X_OK):
        raise FileNotFoundError(f"peer interpreter {python} does not exist or is not executable; pass --peer-python with the peer venv's bin/python.")
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    out_path = Path(request["output"])
    if out_path.exists():
        out_path.unlink()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the peer must not see our packages
    try:
        proc = subprocess.run(
            [str(python), str(runner), str(request_path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            cwd=str(Path(request_path).parent),
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the peer runner {Path(runner).name} did not finish within {timeout_s:.0f} s; raise --time-budget or time fewer points.") from None
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else f"exit code {proc.returncode}"
    if proc.returncode == 3:
        raise ValueError(last.removeprefix("peer runner: "))
    if proc.returncode != 0:
        raise RuntimeError(f"the peer runner {Path(runner).name} failed under {python}: {last}")
    if not out_path.is_file():
        raise RuntimeError(f"the peer runner {Path(runner).name} exited 0 but wrote no {out_path.name}.")
    try:
        out = json.loads(out_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"the peer output {out_path} is not valid JSON ({err.msg}).") from None
    check_output(out, request)
    return out


def check_output(out: dict, request: dict) -> None:
    """Raise ValueError when a peer output breaks the protocol."""
    if not isinstance(out, dict) or out.get("protocol") != PROTOCOL:
        raise ValueError(f"the peer output does not speak {PROTOCOL}; update the runner script.")
    if not isinstance(out.get("peer"), dict) or "name" not in out["peer"]:
        raise ValueError("the peer output lacks peer.name.")
    if not isinstance(out.get("records"), list):
        raise ValueError("the peer output lacks its records list.")
    points = {p["point"] for p in request["points"]}
    for i, r in enumerate(out["records"]):
        missing = [k for k in _PEER_RECORD_FIELDS if k not in r]
        if missing:
            raise ValueError(f"peer record {i} lacks {', '.join(missing)}.")
        if r["point"] not in points:
            raise ValueError(f"peer record {i} names point {r['point']!r}, which the request does not have.")


def peer_records(out: dict, request: dict, base: dict) -> list[dict]:
    """Peer output -> speed records of this run.

    Parameters
    ----------
    out : checked peer output
    request : the request it answers
    base : fields shared by every record of the run (run_id, dtype, device)
    """
    points = {p["point"]: p for p in request["points"]}
    records = []
    for r in out["records"]:
        p = points[r["point"]]
        ok = r["status"] == "ok"
        point = SimpleNamespace(regime=p["regime"], system=p["system"], n_atoms=int(p["n_atoms"]),
                                n_molecules=int(p["n_molecules"]))
        timing = None
        if ok:
            timing = Timing(median_s=r.get("median_s"), p10_s=r.get("p10_s"), p90_s=r.get("p90_s"), mean_s=r.get("mean_s"),
                            std_s=r.get("std_s"), repeats=int(r.get("repeats") or 0), warmup=int(r.get("warmup") or 0),
                            first_call_s=r.get("first_call_s"))
        peak = SimpleNamespace(peak_mb=r.get("peak_mem_mb"), method=r.get("mem_method"))
        reason = r.get("reason") or (None if ok else "no reason given by the peer runner")
        records.append(record(peer_base(base, r), point, status=r["status"], reason=reason, timing=timing, peak=peak))
    return records


def preflight(python: str | Path, runner: str | Path, timeout_s: float = 300) -> None:
    """Fail early, in one line, when the peer interpreter is missing or lacks its package.

    Runs ``<python> <runner> --check``, which imports the peer package and exits
    0, or 3 with one line on stderr.
    """
    python = Path(python)
    if not python.is_file() or not os.access(python, os.X_OK):
        raise FileNotFoundError(f"peer interpreter {python} does not exist or is not executable; pass --peer-python with the peer venv's bin/python.")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(python), str(runner), "--check"], capture_output=True, text=True, timeout=timeout_s, env=env)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        raise ValueError(last.removeprefix("peer runner: "))


class PeerServer:
    """A peer runner in serve mode: its models stay loaded and answer commands one at a time.

    Parameters
    ----------
    python : the peer environment's interpreter
    request_path : a request written by :func:`write_request`
    runner : the runner script
    timeout_s : longest wait for one answer (a first call may compile); a
        runner silent for longer is stopped and its command fails

    Attributes
    ----------
    peer : dict, the runner's description of the peer (name, package, versions)
    units : list of dict, one per model and compile mode: model, family, params, config, compile

    Raises
    ------
    FileNotFoundError : the interpreter does not exist
    RuntimeError : the runner ended or broke the protocol before it was ready
    """

    def __init__(self, python: str | Path, request_path: str | Path, runner: str | Path, timeout_s: float = 1800.0):
        python = Path(python)
        if not python.is_file() or not os.access(python, os.X_OK):
            raise FileNotFoundError(f"peer interpreter {python} does not exist or is not executable; pass --peer-python with the peer venv's bin/python.")
        self.name = Path(runner).name
        self.timeout_s = float(timeout_s)
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # the peer must not see our packages
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # a file: a full pipe would block the runner
        self.proc = subprocess.Popen(
            [str(python), str(runner), str(request_path), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env,
            cwd=str(Path(request_path).parent),
        )
        # Lines are read by a thread into a queue: waiting on the pipe itself with a timeout
        # (select) misses lines that a buffered read has already taken off it.
        self._lines: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read_lines, daemon=True)
        self._reader.start()
        hello = self._answer()
        if not hello.get("ready") or not isinstance(hello.get("units"), list) or "name" not in hello.get("peer", {}):
            self.close()
            raise RuntimeError(f"the peer runner {self.name} did not start its serve mode as the protocol says; update the runner script.")
        self.peer, self.units = hello["peer"], hello["units"]

    def ask(self, **command) -> dict:
        """Send one command (``op`` and its fields) and return the runner's answer.

        Raises
        ------
        RuntimeError : the runner has ended, stayed silent past ``timeout_s`` or answered outside the protocol
        """
        if self.proc.poll() is not None:
            raise RuntimeError(self._ended())
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise RuntimeError(self._ended()) from None
        return self._answer()

    def _read_lines(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # the runner closed its stdout: it has ended

    def _answer(self) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                self.proc.kill()
                raise RuntimeError(f"the peer runner {self.name} did not answer within {self.timeout_s:.0f} s and was stopped.") from None
            if line is None:
                self.proc.wait(timeout=30)
                raise RuntimeError(self._ended())
            at = line.find(SERVE_PREFIX)
            if at >= 0:  # anything else on the runner's stdout is a library talking, not an answer
                break
        try:
            answer = json.loads(line[at + len(SERVE_PREFIX):])
        except json.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            raise RuntimeError(f"the peer runner {self.name} answered outside the protocol: {line.strip()[:200]!r}")
        return answer

    def _ended(self) -> str:
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().strip().splitlines() if ln.strip()]
        last = lines[-1].strip().removeprefix("peer runner: ") if lines else "no message"
        return f"the peer runner {self.name} ended (exit code {self.proc.poll()}): {last}"

    def close(self) -> None:
        """Ask the runner to quit, and stop it if it does not."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=10)  # it stops at the end of the runner's output
        self.proc.stdin.close()
        if not self._reader.is_alive():
            self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> "PeerServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
