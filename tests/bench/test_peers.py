"""The peer protocol, round-tripped with stand-in runners written here."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from forcefields.bench import peers
from forcefields.bench import speed as speed_mod
from forcefields.bench.collect import peer_ratio
from forcefields.bench.store import load_results
from forcefields.local_paths import interpreter_name

# Reads the structures the harness wrote and answers with a "time" of 1 µs per
# atom it actually found for each point, so the test can check that every
# structure arrived.
STAND_IN = textwrap.dedent(
    '''
    import json, sys
    from ase.io import read

    if sys.argv[1] == "--check":
        sys.exit(0)
    req = json.load(open(sys.argv[1]))
    assert req["protocol"] == "forcefields.bench.peer/1"
    atoms = {}
    for a in read(req["structures"], index=":", format="extxyz"):
        k = int(a.info["bench_point"])
        atoms[k] = atoms.get(k, 0) + len(a)
    records = []
    for m in req["models"]:
        for p in req["points"]:
            t = 1e-6 * atoms[p["point"]] * m["channels"] / 8
            records.append({"model": "standin-%d" % m["channels"], "family": "standin", "params": 123,
                            "compile": False, "compile_status": "off", "point": p["point"], "status": "ok",
                            "reason": None, "median_s": t, "p10_s": t, "p90_s": t, "repeats": 1,
                            "peak_mem_mb": None, "mem_method": None})
    json.dump({"protocol": req["protocol"], "peer": {"name": "standin", "versions": {}}, "records": records},
              open(req["output"], "w"))
    '''
)

MISSING = textwrap.dedent(
    '''
    import sys
    print("some warning on stderr", file=sys.stderr)
    print("peer runner: standin is not importable by " + sys.executable + "; install it there", file=sys.stderr)
    sys.exit(3)
    '''
)


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    def use(source: str) -> Path:
        path = tmp_path / "runner.py"
        path.write_text(source)
        monkeypatch.setattr(peers, "runner_path", lambda name: path)
        return path

    return use


def test_peer_round_trip(tiny_settings, stand_in):
    stand_in(STAND_IN)
    s = tiny_settings(peer="mace", peer_python=sys.executable, peer_models=[{"channels": 8}, {"channels": 16}],
                      regimes=("md", "batch"))
    result = speed_mod.run_speed(s)
    doc = load_results(result["path"])
    recs = doc["records"]
    ours = [r for r in recs if r["source"] != "peer"]
    theirs = [r for r in recs if r["source"] == "peer"]
    assert len(theirs) == 2 * len(ours)
    assert {r["run_id"] for r in recs} == {result["run_id"]}
    for r in theirs:
        scale = 1 if r["model"] == "standin-8" else 2
        # the stand-in saw exactly the atoms of each point
        assert r["median_s"] == pytest.approx(1e-6 * r["n_atoms"] * scale)
        assert r["atoms_per_s"] == pytest.approx(r["n_atoms"] / r["median_s"])
    assert doc["runs"][0]["peers"][0]["name"] == "standin"
    for r in ours:
        assert peer_ratio(r, recs, "standin-8") == pytest.approx(1e-6 * r["n_atoms"] / r["median_s"])


def test_ratios_never_cross_runs(tiny_settings, stand_in):
    stand_in(STAND_IN)
    speed_mod.run_speed(tiny_settings(regimes=("md",), peer="mace", peer_python=sys.executable,
                                      peer_models=[{"channels": 8}]))
    # A later run of our model alone replaces our records; the peer's stay from the old run.
    result = speed_mod.run_speed(tiny_settings(regimes=("md",)))
    recs = load_results(result["path"])["records"]
    ours = [r for r in recs if r["source"] != "peer"]
    assert ours and all(peer_ratio(r, recs, "standin-8") is None for r in ours)


def test_peer_without_its_package_is_one_line(tiny_settings, stand_in):
    stand_in(MISSING)
    with pytest.raises(ValueError) as err:
        speed_mod.run_speed(tiny_settings(peer="mace", peer_python=sys.executable))
    msg = str(err.value)
    assert msg.startswith("standin is not importable") and "\n" not in msg


@pytest.mark.parametrize("peer, package", [("mace", "mace-torch"), ("nequip", "nequip")])
def test_real_runners_report_a_missing_package(peer, package):
    """Our own venv has neither peer: the real runners say so in one line."""
    try:
        __import__(peer)
    except ImportError:
        pass
    else:
        pytest.skip(f"{package} is installed in this environment")
    with pytest.raises(ValueError, match=rf"^{package} is not importable by .*pip install {package}`$"):
        peers.preflight(sys.executable, peers.runner_path(peer))


@pytest.mark.slow
@pytest.mark.parametrize("side_by_side", [False, True], ids=["after-ours", "side-by-side"])
@pytest.mark.parametrize("peer", ["mace", "nequip"])
def test_real_peer_runner(peer, side_by_side, tiny_settings):
    """Opt-in (FORCEFIELDS_MACE_PYTHON / FORCEFIELDS_NEQUIP_PYTHON): the real runner in its own venv."""
    python = os.environ.get(f"FORCEFIELDS_{peer.upper()}_PYTHON")
    if not python:
        pytest.skip(f"set FORCEFIELDS_{peer.upper()}_PYTHON to a venv python with {peer} installed")
    result = speed_mod.run_speed(tiny_settings(regimes=("md", "batch"), peer=peer, peer_python=python,
                                               peer_models=[{"channels": 8, "max_L": 1}], side_by_side=side_by_side))
    theirs = [r for r in result["records"] if r["source"] == "peer"]
    assert theirs and all(r["status"] == "ok" for r in theirs), [r["reason"] for r in theirs]
    assert {r["model"] for r in theirs} == {f"{peer}-8x1"}
    ours = [r for r in result["records"] if r["source"] != "peer"]
    assert all(peer_ratio(r, result["records"], f"{peer}-8x1") for r in ours)


def test_missing_interpreter_and_unknown_peer(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        peers.preflight(tmp_path / "nope" / "python", peers.runner_path("mace"))
    with pytest.raises(KeyError, match="unknown peer"):
        peers.runner_path("allegro")


def test_output_breaking_the_protocol_is_refused():
    request = {"points": [{"point": 0}]}
    with pytest.raises(ValueError, match="does not speak"):
        peers.check_output({"protocol": "other"}, request)
    bad = {"protocol": peers.PROTOCOL, "peer": {"name": "x"}, "records": [{"model": "m", "family": "f", "params": 1,
                                                                          "compile": False, "point": 7, "status": "ok"}]}
    with pytest.raises(ValueError, match="point 7"):
        peers.check_output(bad, request)


# Serve mode through the real peer_common.serve: a "model" whose call sleeps 50 µs per atom
# and logs when it ran, so the test can see the peer take its turns among our models.
SERVING_STAND_IN = textwrap.dedent(
    '''
    import json, sys, time
    sys.path.insert(0, {bench!r})
    from ase.io import read
    from peer_common import group_structures, read_request, run_points, serve, torch_device, write_output

    if sys.argv[1] == "--check":
        sys.exit(0)
    req = read_request(sys.argv[1])
    by_point = group_structures(read(req["structures"], index=":", format="extxyz"))
    log = open({log!r}, "a")
    print("a library printing to stdout must not break the protocol", flush=True)

    def build(cfg):
        return (lambda: None), "standin-%d" % cfg["channels"], "standin", 123, dict(cfg)

    def make_call(model, atoms_list, cfg):
        n = sum(len(a) for a in atoms_list)

        def call():
            if {fail_on_burst} and len(log_lines) >= 1:
                print("peer runner: the stand-in fell over", file=sys.stderr)
                sys.exit(1)
            log.write("%.6f %d\\n" % (time.perf_counter(), n)); log.flush()
            log_lines.append(n)
            time.sleep(5e-5 * n)

        return call

    log_lines = []
    peer = {{"name": "standin", "versions": {{}}, "python": sys.executable}}
    if len(sys.argv) == 3:
        sys.exit(serve(req, by_point, build, make_call, torch_device(req["settings"]), peer))
    write_output(req, peer, run_points(req, by_point, build, make_call, torch_device(req["settings"])))
    '''
)


def _serving_stand_in(stand_in, tmp_path, fail_on_burst=False) -> Path:
    log = tmp_path / "peer-calls.log"
    bench = str(Path(peers.__file__).parent)
    stand_in(SERVING_STAND_IN.format(bench=bench, log=str(log), fail_on_burst=fail_on_burst))
    return log


def test_side_by_side_peer_takes_turns_among_our_models(tiny_settings, stand_in, tmp_path, monkeypatch):
    import time as time_mod

    from .test_speed import _wrap_calls_of

    log = _serving_stand_in(stand_in, tmp_path)
    ours_at = []

    def logged(call):
        def run():
            ours_at.append(time_mod.perf_counter())
            return call()

        return run

    _wrap_calls_of("mpnn-xs", logged, monkeypatch)
    s = tiny_settings(peer="mace", peer_python=sys.executable, peer_models=[{"channels": 8}, {"channels": 16}],
                      regimes=("md", "batch", "train"), train_batch_sizes=(1,), side_by_side=True, repeats=6,
                      min_repeats=6)
    result = speed_mod.run_speed(s)
    doc = load_results(result["path"])
    recs = doc["records"]
    ours = [r for r in recs if r["source"] != "peer"]
    theirs = [r for r in recs if r["source"] == "peer"]
    # Both peer models time every point but the training step, which peers do not take.
    assert sorted((r["model"], r["regime"], r["n_atoms"]) for r in theirs) == sorted(
        (m, r["regime"], r["n_atoms"]) for m in ("standin-8", "standin-16") for r in ours if r["regime"] != "train")
    assert all(r["status"] == "ok" and r["repeats"] == 6 for r in theirs), [r["reason"] for r in theirs]
    for r in theirs:  # its own timings of its own calls: at least the sleep, far below a pipe round trip per call
        assert 5e-5 * r["n_atoms"] <= r["median_s"] < 5e-5 * r["n_atoms"] + 0.02
        assert r["first_call_s"] is not None and r["peak_mem_mb"] is not None
    info = doc["runs"][0]["peers"][0]
    assert info["name"] == "standin" and info["side_by_side"] is True
    assert info["python"] == interpreter_name(sys.executable) and not Path(info["python"]).is_absolute()
    for r in ours:
        assert peer_ratio(r, recs, "standin-8") is not None or r["regime"] == "train"
    # Taking turns: within the md point our calls and the peer's overlap in time.
    peer_at = [float(line.split()[0]) for line in log.read_text().splitlines() if int(line.split()[1]) == 9]
    md_ours = ours_at[: s.warmup + 6]
    assert min(peer_at) < max(md_ours) and min(md_ours) < max(peer_at)


def test_side_by_side_peer_that_dies_fails_its_points_only(tiny_settings, stand_in, tmp_path):
    _serving_stand_in(stand_in, tmp_path, fail_on_burst=True)
    s = tiny_settings(peer="mace", peer_python=sys.executable, peer_models=[{"channels": 8}], regimes=("md", "batch"),
                      side_by_side=True)
    recs = speed_mod.run_speed(s)["records"]
    ours = [r for r in recs if r["source"] != "peer"]
    theirs = [r for r in recs if r["source"] == "peer"]
    assert ours and all(r["status"] == "ok" for r in ours)
    assert len(theirs) == len(ours) and all(r["status"] == "failed" for r in theirs)
    assert all("the stand-in fell over" in r["reason"] for r in theirs), [r["reason"] for r in theirs]


def test_peer_server_takes_answers_that_arrive_with_other_output_in_one_read(tmp_path):
    """A library's line and the runner's answer in one pipe read: the answer must still be found, at once."""
    runner = tmp_path / "runner.py"
    runner.write_text(textwrap.dedent(
        f'''
        import json, os, sys
        prefix = {peers.SERVE_PREFIX!r}
        ready = {{"ready": True, "peer": {{"name": "standin"}}, "units": [{{"model": "m"}}]}}
        os.write(1, ("a library says hello\\n" + prefix + json.dumps(ready) + "\\n").encode())
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["op"] == "quit":
                break
            os.write(1, ("noise\\n" + prefix + json.dumps({{"ok": True, "times": [0.5] * cmd["count"]}}) + "\\n").encode())
        '''
    ))
    request = tmp_path / "request.json"
    request.write_text("{}")
    with peers.PeerServer(sys.executable, request, runner, timeout_s=20) as server:
        assert server.peer["name"] == "standin" and server.units == [{"model": "m"}]
        assert server.ask(op="burst", unit=0, count=3) == {"ok": True, "times": [0.5, 0.5, 0.5]}
    assert server.proc.returncode == 0
