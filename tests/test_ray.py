# SPDX-License-Identifier: MIT
"""Encoding on Ray (a local instance with 2 CPUs): the local file's bytes, whatever the
workers do; a group's own failure fails the encode with one line."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import framecodec
from framecodec import cli
from framecodec.encoder import tune
from framecodec.encoder.jobs import GroupJob, LocalExecutor
from framecodec.encoder.journal import journal_path
from framecodec.frames import Frame
from helpers import FAST, SAMPLE, corpus_clip, moving_pattern, read_frames, write_clip

RAY_MISSING = "ray is not installed (pip install -e '.[ray]'; CI installs it)"


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance with 2 CPUs for the module; the encoder joins it."""
    ray = pytest.importorskip("ray", reason=RAY_MISSING)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_ray_writes_the_local_bytes(tmp_path, ray_local):
    """Object store and --shared-input, on the sample and on a long-GOP H.264 clip
    whose groups start between keyframes (each task seeks for its own frames)."""
    bikes = corpus_clip("camera_bikes_640x272.mp4")
    for src, frames, size in ((SAMPLE, (0, 12), 3), (bikes, (21, 29), 4)):
        local = tmp_path / "local.fcv"
        framecodec.encode(src, local, settings=FAST, frames=frames, group_size=size,
                          overwrite=True)
        for shared in (False, True):
            if src is bikes and not shared:
                continue
            out = tmp_path / f"ray-{shared}.fcv"
            result = framecodec.encode(src, out, settings=FAST, frames=frames,
                                       group_size=size, ray=True, shared_input=shared,
                                       overwrite=True)
            assert out.read_bytes() == local.read_bytes(), (src.name, shared)
            assert result.run.executor == "ray" and result.run.workers >= 1
            assert "(ray)" in result.summary() and not journal_path(out).exists()


def test_command_line_joins_a_cluster_or_starts_one(tmp_path):
    """``--ray-address``, $RAY_ADDRESS and the embedded default, each from a fresh
    process as a user runs it, on a cluster with token authentication: the local
    bytes and the workers in the summary; a wrong address or token is one line."""
    pytest.importorskip("ray", reason=RAY_MISSING)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    head = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, ray
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
        print(ray.get_runtime_context().gcs_address, flush=True)
        sys.stdin.read()  # until the test closes it
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        address = head.stdout.readline().strip()
        assert address, "the head did not start"
        (tmp_path / "fast.toml").write_text("hidden = [8, 8]\ntrain_steps = 40\n"
                                            "train_samples = 6000\n")
        argv = [sys.executable, "-m", "framecodec", "encode", str(SAMPLE), "--frames", "0:6",
                "--group-size", "2", "--config", str(tmp_path / "fast.toml")]
        subprocess.run([*argv, "-o", str(tmp_path / "local.fcv"), "-q"], check=True, env=env)
        for name, extra, ray_address in (("address", ["--ray-address", address], None),
                                         ("env", ["--ray"], address),
                                         ("embedded", ["--ray"], None)):
            run_env = env if ray_address is None else {**env, "RAY_ADDRESS": ray_address}
            done = subprocess.run([*argv, "-o", str(tmp_path / f"{name}.fcv"), *extra],
                                  env=run_env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, (name, done.stderr[-2000:])
            assert "(ray)" in done.stdout and "0 retries" in done.stdout, done.stdout
            assert (tmp_path / f"{name}.fcv").read_bytes() == \
                (tmp_path / "local.fcv").read_bytes(), name
        for extra, needle, run_env in (
                (["--ray-address", "127.0.0.1:1"], "cannot reach", env),
                (["--ray-address", address], "wants its authentication token",
                 {**env, "RAY_AUTH_TOKEN": "0" * 32})):
            done = subprocess.run([*argv, "-o", str(tmp_path / "no.fcv"), *extra, "-q"],
                                  env=run_env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 2 and needle in done.stderr, done.stderr[-2000:]
            assert done.stderr.count("\n") == 1, done.stderr[-2000:]
        assert not (tmp_path / "no.fcv").exists()
    finally:
        head.stdin.close()
        head.wait(timeout=60)


def test_results_come_in_job_order_whatever_order_they_finish(ray_local):
    from framecodec.encoder.cluster import RayExecutor

    info, frames = read_frames(SAMPLE, 0, 8)
    sizes = [5, 1, 1, 1]  # the first group is the slowest
    jobs, at = [], 0
    for index, size in enumerate(sizes):
        jobs.append(GroupJob(index, at, frames[at:at + size], 0, info, FAST))
        at += size
    want = list(LocalExecutor().run(iter(jobs)))
    # the order they finish in is the scheduler's affair (on a loaded machine a worker
    # may start late and take the short groups only after the long one): a few tries,
    # each coming out in job order with the same bytes, until one finished out of order
    for _ in range(4):
        executor = RayExecutor()
        got = list(executor.run(iter(jobs)))
        executor.close()
        assert [r.index for r in got] == [0, 1, 2, 3]
        assert [(r.header, r.payloads, r.bound) for r in got] == \
            [(r.header, r.payloads, r.bound) for r in want]
        if [t.index for t in executor.timings] != [0, 1, 2, 3]:
            break
    else:
        pytest.fail("every try finished in job order: nothing tested")
    assert ray_local.is_initialized()  # it joined the instance, so it leaves it running


def test_groups_finishing_early_wait_on_disk_not_in_memory(tmp_path, monkeypatch, ray_local):
    """A long first group and short ones after it (scene cuts): the short ones finish
    first, wait in the journal, and are read back in their turn; same bytes."""
    from framecodec.encoder.journal import Journal

    info, frames = moving_pattern("yuv420p", 320, 240, count=20)
    rng = np.random.default_rng(1)
    for level in (30, 90, 150, 210):  # each frame a new scene: one-frame groups
        planes = [np.clip(level + rng.integers(-3, 4, p.shape), 0, 255).astype(np.uint8)
                  for p in frames[0].planes]
        frames.append(Frame(planes, len(frames)))
    src = write_clip(tmp_path / "cuts.mkv", info, frames)
    settings = FAST.replace(min_group=1, max_group=20)
    local = tmp_path / "local.fcv"
    framecodec.encode(src, local, settings=settings)
    read_back = []
    original = Journal._read_back
    monkeypatch.setattr(Journal, "_read_back",
                        lambda self, index: read_back.append(index) or original(self, index))
    # which group finishes first is the scheduler's affair (a worker that starts late may
    # take a short group after the long one is done): a few tries, each with the same bytes
    for attempt in range(4):
        out = tmp_path / f"ray{attempt}.fcv"
        result = framecodec.encode(src, out, settings=settings, ray=True)
        assert [g.frames for g in result.groups_report] == [20, 1, 1, 1, 1]
        assert out.read_bytes() == local.read_bytes()
        if read_back:
            break
    assert read_back, "no group finished before an earlier one in 4 tries: nothing tested"


def test_a_source_changed_under_shared_input_fails_with_one_line(tmp_path):
    """Workers read frames the driver did not plan from: that group fails with its own
    message, one line from the command line, and nothing is left (a fresh process
    starting its own Ray instance, as a user runs it)."""
    pytest.importorskip("ray", reason=RAY_MISSING)
    info, frames = moving_pattern("yuv420p", 64, 48, count=16)
    src = write_clip(tmp_path / "s.mkv", info, frames)
    other = write_clip(tmp_path / "o.mkv", *moving_pattern("yuv420p", 64, 48, 16, seed=1))
    (tmp_path / "fast.toml").write_text("hidden = [8, 8]\ntrain_steps = 40\n"
                                        "train_samples = 6000\n")
    out = tmp_path / "s.fcv"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    encode = subprocess.Popen(
        [sys.executable, "-m", "framecodec", "encode", str(src), "-o", str(out), "--config",
         str(tmp_path / "fast.toml"), "--group-size", "1", "--ray", "--shared-input", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    while not list(journal_path(out).glob("*.group")) and encode.poll() is None:
        time.sleep(0.05)
    os.replace(other, src)  # the driver keeps reading the file it opened
    _, err = encode.communicate(timeout=300)
    assert encode.returncode == 2, err
    assert err.count("\n") == 1 and "from what the driver planned with" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.toml", "s.mkv"]


def test_damaged_source_on_ray_gives_one_line(tmp_path, capsys, ray_local):
    info, frames = moving_pattern("yuv420p", 64, 48, count=12)
    good = write_clip(tmp_path / "good.mkv", info, frames)
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0x5A for b in data[middle:middle + 64])
    (tmp_path / "bad.mkv").write_bytes(data)
    code = cli.main(["encode", str(tmp_path / "bad.mkv"), "-o", str(tmp_path / "bad.fcv"),
                     "--group-size", "2", "--ray", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "frame" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mkv", "good.mkv"]


def test_interrupted_local_encode_resumes_on_ray(tmp_path, ray_local):
    out, whole = tmp_path / "r.fcv", tmp_path / "whole.fcv"
    framecodec.encode(SAMPLE, whole, settings=FAST, frames=(0, 10), group_size=2)
    seen = []

    def stop(*_):
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        framecodec.encode(SAMPLE, out, settings=FAST, frames=(0, 10), group_size=2,
                          on_group=stop)
    result = framecodec.encode(SAMPLE, out, settings=FAST, frames=(0, 10), group_size=2,
                               ray=True, shared_input=True, resume=True)
    assert result.run.resumed >= 2 and out.read_bytes() == whole.read_bytes()


def test_tune_on_ray_tries_what_tune_here_tries(monkeypatch, ray_local):
    """The values of a setting run at once on the cluster; the search is the same
    (test_tuning.py checks candidates made stale by an earlier value's win)."""
    from framecodec.encoder.cluster import RayExecutor

    monkeypatch.setattr(tune, "SEARCH", [("max_group", [2, 4]), ("block", [8, 32])])
    info, frames = moving_pattern("yuv420p", 48, 32, count=6)
    start = FAST.replace(min_group=6, max_group=6)
    target = tune.TuneTarget(max_error=0)
    here = tune.tune(info, [frames], start, target)
    executor = RayExecutor()
    there = tune.tune(info, [frames], start, target, executor=executor)

    def seen(result):
        best, trials = result
        return best.settings, [(t.changed, t.settings, t.bytes) for t in trials]

    assert seen(there) == seen(here)
    assert len(executor.timings) >= len(here[1])  # every trial's groups ran on Ray


def test_tune_command_line_on_ray(tmp_path, monkeypatch, capsys, ray_local):
    monkeypatch.setattr(tune, "SEARCH", [("block", [8, 32])])
    info, frames = moving_pattern("yuv420p", 48, 32, count=4)
    src = write_clip(tmp_path / "s.mkv", info, frames)
    toml = tmp_path / "fast.toml"
    toml.write_text("hidden = [8, 8]\ntrain_steps = 40\ntrain_samples = 6000\n")
    assert cli.main(["tune", str(src), "--config", str(toml), "-o", str(tmp_path / "t.toml"),
                     "--sample-frames", "4", "--ray", "-q"]) == 0
    out = capsys.readouterr().out
    assert "<- chosen" in out and "block=8" in out and (tmp_path / "t.toml").is_file()


def test_ray_is_optional_and_imported_only_for_ray(tmp_path):
    """Without ray, --ray says how to install it; importing, decoding and a local
    encode never load it (checked with ray blocked)."""
    script = textwrap.dedent(f"""
        import sys
        class NoRay:
            def find_spec(self, name, path=None, target=None):
                if name == "ray" or name.startswith("ray."):
                    raise ImportError("ray is blocked in this test")
        sys.meta_path.insert(0, NoRay())
        import framecodec
        from framecodec import cli
        from helpers import FAST, SAMPLE
        out = {str(tmp_path / 's.fcv')!r}
        framecodec.encode(SAMPLE, out, settings=FAST, frames=(0, 2))
        list(framecodec.decode_frames(out))
        assert cli.main(["encode", str(SAMPLE), "-o", out + "2", "--ray", "-q"]) == 2
        assert not [m for m in sys.modules if m.split(".")[0] == "ray"]
    """)
    tests = os.path.dirname(__file__)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": tests})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.strip() == ("framecodec encode: error: --ray needs Ray, which is not "
                                   "installed: pip install 'framecodec[ray]'")
