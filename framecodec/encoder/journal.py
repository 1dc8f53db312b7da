# SPDX-License-Identifier: MIT
"""Resuming an interrupted encode: a journal of finished groups next to the output.

Every encode keeps one in ``OUT.fcv.journal/``. ``journal.json`` says which
encode it belongs to (the source's size and sampled bytes, its stream, the
frame range, every setting, the target, audio, the coder's versions; not
the thread count, on which the bytes do not depend); each finished group is
a file of its own (its job's key, its bytes and their SHA-256), written
whole and renamed into place before it counts, so ``kill -9`` leaves either a whole group or none.

``--resume`` re-plans the groups (planning is deterministic), reads back
the groups whose key matches (first frame, length, why it starts, a digest
of its frames, its byte budget) and codes only the others. A group's bytes
depend on nothing but its job, and the file is assembled by the normal
writer, so it is the file an uninterrupted run writes. A journal of another
encode, or a source whose frames changed, is refused and left alone, never
mixed in. The journal goes away when the encode finishes, and when the
input itself made it fail (``InputError``); it stays when rerunning can help
(an interruption, a lost cluster, a full disk).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
from collections import deque
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path

from ..errors import InputError, UsageError
from ..format.container import FORMAT_VERSION
from ..frames import VideoInfo
from ..metrics import PlaneStats
from .jobs import GroupJob, GroupResult
from .settings import EncodeSettings

__all__ = ["Journal", "JournalMismatch", "journal_path", "identify", "open_journal"]

JOURNAL_VERSION = 1
_SAMPLE = 1 << 20  # bytes of the source's start and end that identify it cheaply


class JournalMismatch(UsageError):
    """A journal written for another encode (or other frames): refused and kept."""


def journal_path(dst: Path) -> Path:
    return dst.with_name(dst.name + ".journal")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _source_identity(src: Path) -> dict:
    """Size and SHA-256 of the first and last MiB: a cheap check before any
    decoding; the frame digests of each group check the rest."""
    if not src.is_file():  # an image sequence pattern: the frame digests decide
        return {"pattern": src.name}
    size = src.stat().st_size
    h = hashlib.sha256()
    with open(src, "rb") as f:
        h.update(f.read(_SAMPLE))
        if size > _SAMPLE:
            f.seek(max(_SAMPLE, size - _SAMPLE))
            h.update(f.read(_SAMPLE))
    return {"bytes": size, "sampled_sha256": h.hexdigest()}


def identify(src: Path, info: VideoInfo, settings: EncodeSettings, *, start: int,
             stop: int | None, psnr: float | None, size: int | None, audio: bool) -> dict:
    """What makes an encode's bytes what they are, as JSON values."""
    stream = {k: str(v) if not isinstance(v, int | str) else v
              for k, v in dataclasses.asdict(info).items() if k != "frame_count"}
    return {
        "journal": JOURNAL_VERSION,
        "coder": {"framecodec": _version("framecodec"), "numba": _version("numba"),
                  "format": list(FORMAT_VERSION)},
        "source": _source_identity(src),
        "stream": stream,
        "frames": [start, stop],
        "settings": json.loads(json.dumps(dataclasses.asdict(settings))),
        "target": {"psnr": psnr, "size": size},
        "audio": audio,
    }


def _first_difference(old: dict, new: dict, where: str = "") -> str | None:
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = _first_difference(a, b, f"{where}{key}.")
            if found:
                return found
        elif a != b:
            return f"{where}{key}: {a!r} in the journal, {b!r} now"
    return None


def _job_key(job: GroupJob) -> dict:
    return {"first_frame": job.first_frame, "frames": len(job.frames), "reason": job.reason,
            "digest": job.digest, "budget": job.budget}


class Journal:
    """An open journal: which groups are done, and where their bytes are."""

    def __init__(self, path: Path, lock):
        self.path = path
        self._lock = lock
        self.resumed = 0  # groups read back from an earlier run
        self._done: dict[int, Path] = {}

    @property
    def groups(self) -> int:
        """Finished groups it holds."""
        return len(self._done)

    def _group_file(self, index: int) -> Path:
        return self.path / f"{index:08d}.group"

    def _read(self, index: int) -> tuple[dict, GroupResult] | None:
        """(entry, result) of a journaled group, None if it is missing or damaged."""
        try:
            raw = self._group_file(index).read_bytes()
            line, _, data = raw.partition(b"\n")
            entry = json.loads(line)
        except (OSError, ValueError):
            return None
        if hashlib.sha256(data).hexdigest() != entry.get("sha256") or \
                len(data) != sum(entry.get("sizes", [])):
            return None
        result = _unpack(index, entry, data)
        return None if result is None else (entry, result)

    def has(self, job: GroupJob) -> bool:
        """Whether ``job`` is done; JournalMismatch if the journal coded other frames there."""
        if job.index not in self._done:
            return False
        found = self._read(job.index)
        if found is None:  # damaged: coding it again gives the same bytes
            del self._done[job.index]
            return False
        entry, key = found[0], _job_key(job)
        if entry["key"] != key:
            last = job.first_frame + len(job.frames) - 1
            raise JournalMismatch(
                f"{self.path}: group {job.index} (frames {job.first_frame}-{last}) was coded "
                f"from other frames than the source has now ("
                f"{_first_difference(entry['key'], key)}); rerun with -y and without "
                "--resume to start over")
        return True

    def load(self, index: int) -> GroupResult:
        """A group journaled by an earlier run."""
        result = self._read_back(index)
        self.resumed += 1
        return result

    def record(self, key: dict, result: GroupResult) -> None:
        """Write a finished group whole (temporary file, fsync, rename)."""
        fields, parts = _pack(result)
        data = b"".join(parts)
        entry = {"key": key, "fields": fields, "sizes": [len(p) for p in parts],
                 "sha256": hashlib.sha256(data).hexdigest()}
        target = self._group_file(result.index)
        _write_whole(target, json.dumps(entry).encode() + b"\n" + data)
        self._done[result.index] = target

    def run(self, executor, jobs: Iterable[GroupJob]) -> Iterator[GroupResult]:
        """Results in job order: journaled groups read back, the others coded by
        ``executor`` and journaled as they arrive, before they are written.

        An executor with ``run_unordered`` (a cluster) hands groups over as they
        finish: each is journaled at once and read back from disk in its turn,
        so groups that finish early wait on disk, not in memory. Only keys wait
        here, never frames: the executor alone holds the jobs in flight.
        """
        order: deque[tuple[int, dict | None]] = deque()  # (index, key if being coded)
        keys: dict[int, dict] = {}

        def missing() -> Iterator[GroupJob]:
            for job in jobs:
                if self.has(job):
                    order.append((job.index, None))
                else:
                    key = _job_key(job)
                    order.append((job.index, key))
                    keys[job.index] = key
                    yield job

        unordered = getattr(executor, "run_unordered", None)
        finished: set[int] = set()  # coded in this run, on disk, not yet handed on
        for result in (unordered or executor.run)(missing()):
            self.record(keys.pop(result.index), result)
            finished.add(result.index)
            while order and (order[0][1] is None or order[0][0] in finished):
                index, key = order.popleft()
                if key is None:
                    yield self.load(index)
                    continue
                finished.discard(index)
                yield result if index == result.index else self._read_back(index)
        while order:
            index, key = order.popleft()
            yield self.load(index) if key is None else self._read_back(index)

    def _read_back(self, index: int) -> GroupResult:
        """A journaled group, as it was recorded."""
        found = self._read(index)
        if found is None:
            raise UsageError(f"{self._group_file(index)}: changed during the encode")
        return found[1]

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _pack(result: GroupResult) -> tuple[dict, list[bytes]]:
    """Every field of a result but its index: bytes and lists of bytes go to the
    data, the rest to JSON. Generic, so a field added to GroupResult is kept too."""
    fields, parts = {}, []
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if f.name == "index":
            continue
        if isinstance(value, bytes):
            fields[f.name] = {"bytes": True}
            parts.append(value)
        elif isinstance(value, list) and value and all(isinstance(v, bytes) for v in value):
            fields[f.name] = {"byte_list": len(value)}
            parts.extend(value)
        elif isinstance(value, PlaneStats):
            fields[f.name] = {"stats": dataclasses.asdict(value)}
        else:
            fields[f.name] = {"json": value}
    return fields, parts


def _unpack(index: int, entry: dict, data: bytes) -> GroupResult | None:
    """The result ``_pack`` wrote; None if it does not fit (another GroupResult)."""
    try:
        sizes, fields, at, values = iter(entry["sizes"]), entry["fields"], 0, {}
        if set(fields) != {f.name for f in dataclasses.fields(GroupResult)} - {"index"}:
            return None
        for name, stored in fields.items():
            if "bytes" in stored or "byte_list" in stored:
                chunk = []
                for _ in range(stored.get("byte_list", 1)):
                    n = next(sizes)
                    chunk.append(data[at:at + n])
                    at += n
                values[name] = chunk[0] if "bytes" in stored else chunk
            elif "stats" in stored:
                values[name] = PlaneStats(**stored["stats"])
            else:
                values[name] = stored["json"]
        return GroupResult(index, **values)
    except (KeyError, TypeError, StopIteration):
        return None


def _write_whole(path: Path, data: bytes) -> None:
    """All of ``data`` under ``path`` or nothing: kill -9 leaves a .tmp, never half a group."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _lock(path: Path):
    """Hold the journal for this process; UsageError if another encode holds it."""
    handle = open(path / "lock", "a+b")  # noqa: SIM115 - held until released
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UsageError(f"{path} is in use by another encode of the same output") from None
    return handle


def open_journal(dst: Path, identity: dict, *, resume: bool, overwrite: bool) -> Journal:
    """The journal for encoding into ``dst``: resumed, or new (see the module's rules)."""
    path = journal_path(dst)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a journal directory")
    if not path.is_dir():
        path.mkdir()
        journal = Journal(path, _lock(path))
        _write_whole(path / "journal.json", json.dumps(identity, indent=1).encode())
        return journal
    journal = Journal(path, _lock(path))
    try:
        written = json.loads((path / "journal.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        written = None  # interrupted before its first group: nothing to lose
    except (OSError, ValueError):
        journal.release()
        raise JournalMismatch(f"{path}/journal.json is unreadable; pass -y without --resume "
                              "to start over") from None
    if written is not None and not resume:
        if not overwrite:
            journal.release()
            raise UsageError(f"{path} holds an interrupted encode of {dst.name}: pass --resume "
                             "to continue it, or -y to start over")
    if written is not None and resume:
        difference = _first_difference(written, identity)
        if difference:
            journal.release()
            raise JournalMismatch(f"{path} belongs to another encode ({difference}); rerun "
                                  "the same command, or pass -y without --resume to start over")
        for f in path.glob("*.group"):
            with contextlib.suppress(ValueError):
                journal._done[int(f.stem)] = f
    else:  # a fresh start in an old directory
        for f in path.iterdir():
            if f.name != "lock":
                f.unlink()
        _write_whole(path / "journal.json", json.dumps(identity, indent=1).encode())
    for f in path.glob(".*.tmp"):
        f.unlink()
    return journal


@contextlib.contextmanager
def journaled(dst: Path, identity: dict, *, resume: bool, overwrite: bool) -> Iterator[Journal]:
    """``open_journal`` for the length of an encode: removed on success and
    when the input is at fault; otherwise kept, with a note on the exception
    saying how to resume."""
    journal = open_journal(dst, identity, resume=resume, overwrite=overwrite)
    try:
        yield journal
    except JournalMismatch:
        journal.release()
        raise
    except BaseException as exc:
        if isinstance(exc, InputError) or journal.groups == 0:
            journal.remove()
        else:
            journal.release()
            exc.add_note(f"{journal.groups} finished group{'s' * (journal.groups != 1)} kept "
                         f"in {journal.path}: rerun the same command with --resume to "
                         "continue")
        raise
    journal.remove()
