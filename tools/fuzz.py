#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Deep fuzzing of the .fcv reader: mutated files through decode, verify, info, framemd5.

Each case is a valid file (by default the golden vectors, tests/golden/*.fcv)
changed by tools/fcvmutate.py where the format has structure: a typed field
of the stream header, a group header, its colour dictionary and palette
networks, the model record, a frame's prefix, kind, motion and slices, the
index, the tail or the audio record; a substream; a length; chunk order. CRCs,
index and tail are recomputed unless the mutation is about them, so most
cases reach the decoder rather than its CRC check.

Cases run in batches inside a few long-lived child processes (one process
per case would spend its time importing numba); each child decodes every
frame, verifies, describes and lists each file, under an address-space limit
(resource.setrlimit) set after it has warmed up, while the parent times each
case. A share of cases goes to a child with ``NUMBA_BOUNDSCHECK=1``, where an
out-of-bounds index in a kernel raises instead of reading memory. Outcomes:

    decoded   every step ran (verify may report damage)        clean
    refused   a step raised FramecodecError, one line           clean
    foreign   another exception (a bug: the traceback is kept)
    memory    MemoryError or the address-space limit
    hang      the case took longer than --timeout seconds
    crash     the child died (a signal or an interpreter abort)

Non-clean cases are saved with what was done to them under --out. Usage::

    python tools/fuzz.py --cases 100000 --seed 1          # the long run (documented)
    python tools/fuzz.py --cases 2000 --boundscheck-share 0.1 --json

Exit status 0 when every case was clean, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import selectors
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import fcvmutate  # noqa: E402

CLEAN = ("decoded", "refused")
OUTCOMES = ("decoded", "refused", "foreign", "memory", "hang", "crash")
SELF_TEST = "FCV_FUZZ_SELF_TEST"  # the child misbehaves on purpose (tests/test_fuzz.py)


# ----------------------------------------------------------------- the child


def _steps(path: str, max_memory: int):
    """(name, callable) for everything a reader does with a file."""
    import framecodec
    from framecodec import report

    def decode():
        for _ in framecodec.decode_frames(path, max_memory=max_memory):
            pass

    return [("decode", decode),
            ("verify", lambda: report.verify(path, max_memory=max_memory)),
            ("info", lambda: report.describe(path)),
            ("framemd5", lambda: report.framemd5(path, max_memory=max_memory))]


def _run_case(path: str, max_memory: int) -> dict:
    """Each step on its own (a refusal by one does not hide a fault in the next); the
    outcome is the worst, its detail the first message of that outcome."""
    from framecodec.errors import FramecodecError

    steps = _steps(path, max_memory)
    if os.environ.get(SELF_TEST):
        steps.insert(0, ("self test", lambda: _misbehave(Path(path).read_bytes())))
    results = []
    for name, step in steps:
        try:
            step()
        except FramecodecError as exc:
            message = str(exc)
            bad = "\n" in message or not message
            results.append(("foreign", f"{name}: error not one line: {message!r}") if bad
                           else ("refused", f"{name}: {message}"))
        except MemoryError:
            results.append(("memory", f"{name}: MemoryError"))
        except Exception as exc:  # noqa: BLE001 - a foreign exception is what we look for
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            results.append(("foreign", f"{name}: " + "".join(tb[-3:])))
    if not results:
        return {"outcome": "decoded", "detail": ""}
    worst = max(results, key=lambda r: OUTCOMES.index(r[0]))
    return {"outcome": worst[0], "detail": worst[1]}


def _misbehave(data: bytes) -> None:
    """Self-test: a case whose bytes start with a marker makes the child fail that way
    (``bounds`` indexes past an array in a kernel: IndexError only when bounds are
    checked)."""
    if data.startswith(b"crash"):
        os.abort()
    if data.startswith(b"hang"):
        time.sleep(3600)
    if data.startswith(b"memory"):
        bytearray(1 << 40)
    if data.startswith(b"bounds"):
        import numpy as np

        from framecodec.kernels.palette import _palette_fill

        geom = np.array([[0, 1, 1, 0, 0, 0]], np.int64)
        out = np.zeros(1, np.uint16)
        _palette_fill(np.array([1 << 20], np.int32), np.zeros(4, np.int64), 0, 1, geom, 0,
                      1, out, np.zeros(1, np.int32))


def child(args) -> int:
    """Warm up on the seeds (compiling what is not cached), lower the address-space
    limit, then run cases named on stdin, one JSON line each on stdout."""
    for seed in args.seed_files:
        _run_case(seed, args.max_memory)
    if args.memory:
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = used + args.memory * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print("ready", flush=True)
    for line in sys.stdin:
        result = _run_case(line.strip(), args.max_memory)
        print(json.dumps(result), flush=True)
    return 0


# ----------------------------------------------------------------- the parent


class Worker:
    """A child process running cases one at a time."""

    def __init__(self, args, boundscheck: bool, cache: str, env: dict | None = None):
        env = dict(os.environ if env is None else env)
        env["NUMBA_CACHE_DIR"] = cache + ("-boundscheck" if boundscheck else "")
        if boundscheck:
            env["NUMBA_BOUNDSCHECK"] = "1"
        self.env = env
        argv = [sys.executable, str(Path(__file__).resolve()), "--child",
                "--max-memory", str(args.max_memory), "--memory", str(args.memory),
                *[a for s in args.seed_files for a in ("--seed-file", s)]]
        self.args, self.cache, self.boundscheck = args, cache, boundscheck
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a fuzz worker did not start: run tools/fuzz.py --child")

    def send(self, path: Path) -> None:
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float) -> dict:
        """The result of the case sent last: hang after ``timeout``, crash if it died."""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(max(timeout, 0.0)):
                self.proc.kill()
                self.proc.wait()
                return {"outcome": "hang", "detail": f"over {self.args.timeout:g} s"}
        line = self.proc.stdout.readline()
        if not line:
            return {"outcome": "crash", "detail": f"child exit status {self.proc.wait()}"}
        return json.loads(line)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def restarted(self) -> Worker:
        return Worker(self.args, self.boundscheck, self.cache, self.env)

    def close(self) -> None:
        if self.alive:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _cases(args, trees: list, scratch: Path):
    """(case number, file, what was done, boundscheck?) for every case, deterministic."""
    rng = random.Random(args.seed)
    for n in range(args.cases):
        k = rng.randrange(len(trees))
        tree, done = fcvmutate.mutate(trees[k], rng)
        path = scratch / f"case{n}.fcv"
        path.write_bytes(fcvmutate.serialize(tree))
        yield n, path, [Path(args.seed_files[k]).name] + done, \
            rng.random() < args.boundscheck_share


def _run_batch(batch: list, pool: list[Worker], timeout: float):
    """(case, result, worker) for a batch: bounds-checked cases to the last worker if
    it checks bounds, the others round-robin; workers run side by side."""
    checked = pool[-1].boundscheck
    plain = len(pool) - checked
    queues: list[list] = [[] for _ in pool]
    for i, case in enumerate(batch):
        queues[len(pool) - 1 if case[3] and checked else i % plain].append(case)
    while any(queues):
        sent = []
        for w, queue in enumerate(queues):
            if queue:
                case = queue.pop(0)
                pool[w].send(case[1])
                sent.append((w, case, time.perf_counter()))
        for w, case, t in sent:
            result = pool[w].answer(timeout - (time.perf_counter() - t))
            worker = pool[w]
            if not worker.alive:
                pool[w] = worker.restarted()
            yield case, result, worker


def parent(args) -> int:
    trees = [fcvmutate.parse(Path(s).read_bytes()) for s in args.seed_files]
    cache = os.environ.get("NUMBA_CACHE_DIR") or str(Path(tempfile.gettempdir()) / "fcv-fuzz")
    started = time.perf_counter()
    pool = [Worker(args, False, cache) for _ in range(args.workers)]
    if args.boundscheck_share > 0:
        pool.append(Worker(args, True, cache))
    warm = time.perf_counter() - started
    counts, bounds, saved, refusals = Counter(), 0, [], Counter()
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="fcv-fuzz-") as scratch:
            batch = []
            for case in _cases(args, trees, Path(scratch)):
                batch.append(case)
                if len(batch) < 8 * len(pool) and case[0] < args.cases - 1:
                    continue
                for (n, path, done, _), result, worker in _run_batch(batch, pool,
                                                                      args.timeout):
                    counts[result["outcome"]] += 1
                    bounds += worker.boundscheck
                    if result["outcome"] == "refused":
                        refusals[_reason(result["detail"])] += 1
                    if result["outcome"] not in CLEAN:
                        saved.append(_save(Path(args.out), n, path, done, result))
                    path.unlink()
                batch = []
    finally:
        for worker in pool:
            worker.close()
    seconds = time.perf_counter() - t0
    summary = {"cases": args.cases, "seed": args.seed, "seconds": round(seconds, 1),
               "warm_up_seconds": round(warm, 1),
               "cases_per_second": round(args.cases / max(seconds, 1e-9), 1),
               "boundscheck_cases": bounds, "outcomes": {o: counts[o] for o in OUTCOMES},
               "refusals": dict(refusals.most_common(12)), "saved": saved}
    _print(summary, args.json)
    return 0 if all(counts[o] == 0 for o in OUTCOMES if o not in CLEAN) else 1


def _reason(detail: str) -> str:
    """A refusal's message without its numbers and places, to count alike ones."""
    text = re.sub(r" \((group|frame|byte) [^)]*\)", "", detail)
    return re.sub(r"\b\d[\d,]*\b", "N", text)[:90]


def _save(out: Path, n: int, path: Path, done: list[str], result: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    name = f"{result['outcome']}-{n:07d}.fcv"
    (out / name).write_bytes(path.read_bytes())
    entry = {"case": n, "file": str(out / name), "mutations": done, **result}
    with open(out / "cases.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")
    return entry


def _print(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    print(f"{summary['cases']} cases (seed {summary['seed']}) in {summary['seconds']} s: "
          f"{summary['cases_per_second']} cases/s after a {summary['warm_up_seconds']} s "
          f"warm-up; {summary['boundscheck_cases']} with NUMBA_BOUNDSCHECK=1")
    print(f"{'outcome':<10} {'cases':>8} {'share':>7}")
    for outcome, count in summary["outcomes"].items():
        share = 100 * count / max(summary["cases"], 1)
        print(f"{outcome:<10} {count:>8} {share:>6.2f}%")
    print("most frequent refusals:")
    for reason, count in summary["refusals"].items():
        print(f"  {count:>7}  {reason}")
    for entry in summary["saved"][:20]:
        print(f"{entry['outcome']}: case {entry['case']} ({'; '.join(entry['mutations'])}) "
              f"-> {entry['file']}: {entry['detail'].strip()[-200:]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0, help="of the mutations (runs repeat)")
    p.add_argument("--boundscheck-share", type=float, default=0.1, metavar="F",
                   help="share of cases run with NUMBA_BOUNDSCHECK=1 (default 0.1)")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                   help="child processes without bounds checks")
    p.add_argument("--timeout", type=float, default=30, help="seconds per case")
    p.add_argument("--memory", type=int, default=1024,
                   help="MB of address space a child may take beyond its warm state")
    p.add_argument("--max-memory", type=int, default=512 << 20,
                   help="the decoder's --max-memory, bytes")
    p.add_argument("--seed-file", dest="seed_files", action="append", default=None,
                   help="a valid .fcv to mutate (repeatable; default tests/golden/*.fcv)")
    p.add_argument("--out", default="fuzz-out", help="where non-clean cases are saved")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.seed_files:
        args.seed_files = [str(s) for s in sorted((ROOT / "tests" / "golden").glob("*.fcv"))]
    if args.child:
        return child(args)
    if args.cases < 1 or not args.seed_files:
        p.error("need at least one case and one seed file")
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
