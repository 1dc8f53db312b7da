# SPDX-License-Identifier: MIT
"""Encoder settings: presets, and the framecodec.toml file that ``tune`` writes.

``EncodeSettings`` is everything ``framecodec encode`` can be told about how
to code (not what to code: input, output and frame range stay on the command
line). A settings file holds any subset of its keys; unknown keys and bad
values are refused with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from .codec import CodingParams
from .errors import UsageError

__all__ = ["EncodeSettings", "PRESETS", "KEYS", "load", "load_mapping", "from_mapping", "dump",
           "preset"]


@dataclass(frozen=True)
class EncodeSettings:
    max_error: int = 0
    min_group: int = 8
    max_group: int = 60
    group_size: int = 0
    block: int = 16
    refs: int = 4
    search_range: int = 48
    subpel: bool = True
    hidden: tuple[int, int] = (0, 0)
    train_steps: int = 600
    train_samples: int = 120000
    slices: int = 0
    palette: str = "auto"
    palette_max: int = 256

    def coding_params(self) -> CodingParams:
        return CodingParams(max_error=self.max_error, log2_block=self.block.bit_length() - 1,
                            slices=self.slices, refs=self.refs,
                            search_range=self.search_range, subpel=self.subpel,
                            hidden=tuple(self.hidden) if self.hidden[0] else None,
                            train_steps=self.train_steps,
                            train_samples=self.train_samples, palette=self.palette,
                            palette_max=self.palette_max)

    def replace(self, **changes) -> EncodeSettings:
        return check(dataclasses.replace(self, **changes))


# What each key means; the file ``dump`` writes carries these as comments.
KEYS = {
    "max_error": "bound on |decoded - source| for every sample; 0 is lossless",
    "min_group": "shortest group a scene cut may close (frames)",
    "max_group": "longest group (frames); each group decodes on its own",
    "group_size": "if not 0: exactly this many frames per group, scene cuts ignored",
    "block": "motion block size in samples of plane 0: 4, 8, 16, 32, 64 or 128",
    "refs": "reference frames a block may predict from, 1 to 4",
    "search_range": "motion search range in samples",
    "subpel": "search half and quarter sample motion",
    "hidden": "widths of the network's two hidden layers [first, second] (second 0: one "
              "layer); [0, 0] chooses per group between [16, 8] and [32, 16]",
    "train_steps": "training steps per group",
    "train_samples": "samples per plane and frame kind that training draws from",
    "slices": "slices per frame (decode threads); 0 chooses from the frame size",
    "palette": "colour dictionary: auto (kept where it makes the group smaller), on, off",
    "palette_max": "most colours a palette may hold (2 to 65536)",
}

PRESETS = {
    "fast": EncodeSettings(refs=1, search_range=16, hidden=(16, 8), train_steps=200,
                           train_samples=20000),
    "default": EncodeSettings(),
    "best": EncodeSettings(refs=4, search_range=96, hidden=(32, 32), train_steps=1500,
                           train_samples=200000, max_group=120),
}


def preset(name: str) -> EncodeSettings:
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r}; choose one of "
                         f"{', '.join(PRESETS)}") from None


def check(settings: EncodeSettings) -> EncodeSettings:
    """Refuse values the encoder cannot honour, naming the key."""
    s = settings
    rules = {
        "max_error": 0 <= s.max_error <= 32767,
        "min_group": 1 <= s.min_group <= 65535,
        "max_group": s.min_group <= s.max_group <= 65535,
        "group_size": 0 <= s.group_size <= 65535,
        "block": s.block in (4, 8, 16, 32, 64, 128),
        "refs": 1 <= s.refs <= 4,
        "search_range": 0 <= s.search_range <= 1016,
        "hidden": len(s.hidden) == 2 and (tuple(s.hidden) == (0, 0) or (
            1 <= s.hidden[0] <= 64 and 0 <= s.hidden[1] <= 64)),
        "train_steps": 1 <= s.train_steps <= 100000,
        "train_samples": 100 <= s.train_samples <= 10_000_000,
        "slices": 0 <= s.slices <= 64,
        "palette": s.palette in ("auto", "on", "off"),
        "palette_max": 2 <= s.palette_max <= 65536,
    }
    for key, ok in rules.items():
        if not ok:
            raise UsageError(f"setting {key} = {getattr(s, key)!r} is out of range: "
                             f"{KEYS[key]}")
    return s


def _coerce(key: str, value, default):
    """A TOML value as the type of the setting's default, or UsageError."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, tuple):
        if isinstance(value, list) and all(isinstance(v, int) for v in value):
            return tuple(value)
    raise UsageError(f"setting {key} = {value!r} has the wrong type "
                     f"(expected like {default!r}): {KEYS[key]}")


def from_mapping(values: dict, base: EncodeSettings | None = None,
                 source: str = "settings") -> EncodeSettings:
    base = base or EncodeSettings()
    known = {f.name: getattr(base, f.name) for f in fields(EncodeSettings)}
    changes = {}
    for key, value in values.items():
        if key == "preset":
            continue
        if key not in known:
            raise UsageError(f"unknown key {key!r} in {source}; known keys: "
                             f"preset, {', '.join(known)}")
        changes[key] = _coerce(key, value, known[key])
    return check(dataclasses.replace(base, **changes))


def load_mapping(path: str | os.PathLike) -> dict:
    """The key/value pairs of a TOML settings file (not yet checked)."""
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"settings file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, IsADirectoryError) as exc:
        raise UsageError(f"settings file {path} is not valid TOML: {exc}") from None
    if "preset" in values and values["preset"] not in PRESETS:
        raise UsageError(f"setting preset = {values['preset']!r} in {path}: choose one of "
                         f"{', '.join(PRESETS)}")
    return values


def load(path: str | os.PathLike, base: EncodeSettings | None = None) -> EncodeSettings:
    """Settings from a TOML file: its ``preset`` (or ``base``), then its other keys."""
    values = load_mapping(path)
    if "preset" in values:
        base = preset(values["preset"])
    return from_mapping(values, base, str(path))


def _toml_value(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def dump(settings: EncodeSettings, path: str | os.PathLike, header: str = "") -> None:
    """Write every key with its meaning as a comment (atomically)."""
    from .outputs import atomic_output

    lines = [f"# {line}" for line in header.splitlines()] + [""] if header else []
    for f in fields(EncodeSettings):
        lines.append(f"# {KEYS[f.name]}")
        lines.append(f"{f.name} = {_toml_value(getattr(settings, f.name))}")
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
