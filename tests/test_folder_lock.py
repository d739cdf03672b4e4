"""One writer per output folder: a second run into a folder in use fails at once with one clear line
naming the holder, and a killed holder leaves no stale lock (two real processes)."""

import os
import signal
import subprocess
import sys
import time

from mathsynth.io import LOCK_FILE

HOLD = ("import sys, time\nfrom mathsynth.io import folder_lock\n"
        "with folder_lock(sys.argv[1], 'eval'):\n    print('held', flush=True)\n    time.sleep(600)\n")


def _eval(out):
    return subprocess.run([sys.executable, "-m", "mathsynth.cli", "eval", "--model", "fake", "--benchmark", "demo",
                           "--limit", "3", "--n", "2", "--out", str(out), "--no-cache"],
                          capture_output=True, text=True, timeout=300)


def test_second_run_into_a_folder_in_use_is_refused_and_a_killed_holder_leaves_no_lock(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = _eval(out)
        assert r.returncode != 0
        assert f"pid {holder.pid}" in r.stderr and "in use by another mathsynth run" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr + r.stdout
        assert not (out / "samples.jsonl").exists()  # the refused run wrote nothing
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # as a crash would: the kernel drops the lock
        holder.wait()
    assert (out / LOCK_FILE).exists()
    r = _eval(out)
    assert r.returncode == 0, r.stderr
    assert len((out / "samples.jsonl").read_text().splitlines()) == 3


def test_two_evals_started_together_never_mix(tmp_path):
    # The probe: two identical runs into one --out at the same time. One of them writes the
    # folder; the other is refused (or, if it starts after the first has finished, finds all done).
    out = tmp_path / "run"
    args = [sys.executable, "-m", "mathsynth.cli", "eval", "--model", "fake", "--benchmark", "demo",
            "--n", "4", "--out", str(out), "--no-cache"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    t0 = time.time()
    res = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert time.time() - t0 < 300
    assert any(rc == 0 for rc, _ in res)
    for rc, err in res:
        assert rc == 0 or "in use by another mathsynth run" in err, err
    ids = [line.split('"id": ')[1].split(",")[0] for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids))  # no problem twice


def test_reruns_with_other_settings_are_refused_even_without_config_json(tmp_path):
    # The probe: synth rerun with --seed 7 into a seed-0 folder mixed the units; eval's check
    # was off once config.json was deleted. Every record carries its settings key now.
    syn = tmp_path / "syn"
    base = [sys.executable, "-m", "mathsynth.cli", "synth", "--seeds", "demo", "--teacher", "symbolic",
            "--no-embeddings", "--out", str(syn)]
    assert subprocess.run(base + ["--limit", "2"], capture_output=True, text=True, timeout=300).returncode == 0
    n = len((syn / "generated.jsonl").read_text().splitlines())
    r = subprocess.run(base + ["--limit", "2", "--seed", "7", "--per-seed", "2"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2 and "other settings (seed: 0 -> 7)" in r.stderr, r.stderr
    (syn / "config.json").unlink()
    r = subprocess.run(base + ["--seed", "7"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "other settings" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len((syn / "generated.jsonl").read_text().splitlines()) == n  # nothing mixed in
    # a rerun with the same settings and a larger limit extends the folder
    assert subprocess.run(base + ["--limit", "3"], capture_output=True, text=True, timeout=300).returncode == 0
    assert len((syn / "generated.jsonl").read_text().splitlines()) > n

    ev = tmp_path / "ev"
    assert _eval(ev).returncode == 0
    (ev / "config.json").unlink()
    r = subprocess.run([sys.executable, "-m", "mathsynth.cli", "eval", "--model", "fake", "--benchmark", "demo",
                        "--limit", "3", "--n", "3", "--out", str(ev), "--no-cache"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2 and "other settings" in r.stderr, r.stderr


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mathsynth.cli", *args], capture_output=True, text=True, timeout=300)


def test_bad_out_is_one_clear_line_and_a_refused_run_leaves_no_folder(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    for out, says in [(a_file, "is an existing file, not a folder"), ("/proc/mathsynth-x", "cannot create the folder")]:
        r = _cli("eval", "--model", "fake", "--benchmark", "demo", "--limit", "1", "--out", str(out), "--no-cache")
        assert r.returncode == 2 and says in r.stderr, r.stderr
        assert "Traceback" not in r.stderr + r.stdout and len(r.stderr.strip().splitlines()) == 1
    assert a_file.read_text() == "mine"
    # Input errors found after the lock is taken (an unknown benchmark, seeds without problems) leave
    # no empty folder behind; a folder that existed before is kept.
    new = tmp_path / "new" / "run"
    r = _cli("eval", "--model", "fake", "--benchmark", "no-such-bench", "--out", str(new), "--no-cache")
    assert r.returncode == 2 and not new.exists(), r.stderr
    r = _cli("synth", "--seeds", str(tmp_path / "missing.jsonl"), "--out", str(new), "--no-embeddings")
    assert r.returncode == 2 and not new.exists(), r.stderr
    kept = tmp_path / "kept"
    kept.mkdir()
    r = _cli("eval", "--model", "fake", "--benchmark", "no-such-bench", "--out", str(kept), "--no-cache")
    assert r.returncode == 2 and kept.is_dir()
