# SPDX-License-Identifier: MIT
"""Encoder settings: one type, one validation table, presets and framecodec.toml.

``EncodeSettings`` is everything ``framecodec encode`` can be told about how
to code (not what to code: input, output and frame range stay on the command
line); the encoder reads its choices from it and from nothing else. A
settings file holds any subset of its keys; unknown keys and bad values are
refused with a message naming the key. Limits come from the format's and the
kernels' named constants, so a setting the decoder could not honour cannot
be made.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import UsageError
from ..format.container import LIMITS
from ..format.dictionary import MAX_ENTRIES
from ..format.layout import MAX_LOG2_BLOCK, MAX_SLICES, MIN_LOG2_BLOCK
from ..kernels.mlp import MAX_HIDDEN
from ..kernels.motion import MAX_REFS, MV_MAX
from ..pixfmt import PIXEL_FORMATS

__all__ = ["EncodeSettings", "PRESETS", "KEYS", "load", "load_mapping", "from_mapping", "dump",
           "preset", "MAX_BOUND"]

MAX_BOUND = max(f.max_value for f in PIXEL_FORMATS) // 2  # the largest --max-error of any depth
MAX_SEARCH = MV_MAX // 4 - 8  # whole samples; the search's last steps stay within MV_MAX
MAX_TRAIN_STEPS = 100_000
TRAIN_SAMPLES = (100, 10_000_000)
MAX_MOTION_LAMBDA = 1024
MAX_BOUNDED_STARTS = 8


@dataclass(frozen=True)
class EncodeSettings:
    """How to code; every value is checked on construction (``RULES``)."""

    max_error: int = 0
    min_group: int = 8
    max_group: int = 60
    group_size: int = 0
    inter: bool = True
    block: int = 16
    refs: int = 4
    search_range: int = 48
    subpel: bool = True
    motion_lambda: int = 0  # 0: the bound's own (encoder/motion.py search_lambda)
    hidden: tuple[int, int] = (0, 0)
    # 1000 since training's sums run in registers (kernels/float_tiles.py): the time
    # that saved, spent on steps (corpus, 60 frames: lossless -0.64 %, bounds 1/2/4
    # -0.43/-0.51/-0.77 %; encode time as before lossless, +8 % at bound 2)
    train_steps: int = 1000
    train_samples: int = 120000
    bounded_starts: int = 2
    slices: int = 0
    palette: str = "auto"
    palette_max: int = MAX_ENTRIES
    differences: str = "auto"
    mixing: bool = False
    order: str = "auto"
    pull: str = "auto"
    fixity: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for key, ok in RULES.items():
            if not ok(self):
                raise UsageError(f"setting {key} = {getattr(self, key)!r} is out of range: "
                                 f"{KEYS[key]}")

    @property
    def log2_block(self) -> int:
        return self.block.bit_length() - 1

    @property
    def fixed_hidden(self) -> tuple[int, int] | None:
        """The network size to use, or None to choose it per group."""
        return None if self.hidden == (0, 0) else self.hidden

    def replace(self, **changes) -> EncodeSettings:
        return dataclasses.replace(self, **changes)


def _within(key: str, lo: int, hi: int):
    return lambda s: lo <= getattr(s, key) <= hi


# Each key's rule, written with the limits it comes from.
RULES = {
    "max_error": _within("max_error", 0, MAX_BOUND),
    "min_group": _within("min_group", 1, LIMITS.max_group_frames),
    "max_group": lambda s: s.min_group <= s.max_group <= LIMITS.max_group_frames,
    "group_size": _within("group_size", 0, LIMITS.max_group_frames),
    "inter": lambda s: isinstance(s.inter, bool),
    "block": lambda s: s.block in [1 << k for k in range(MIN_LOG2_BLOCK, MAX_LOG2_BLOCK + 1)],
    "refs": _within("refs", 1, MAX_REFS),
    "search_range": _within("search_range", 0, MAX_SEARCH),
    "subpel": lambda s: isinstance(s.subpel, bool),
    "motion_lambda": _within("motion_lambda", 0, MAX_MOTION_LAMBDA),
    "hidden": lambda s: len(s.hidden) == 2 and (s.hidden == (0, 0) or (
        1 <= s.hidden[0] <= MAX_HIDDEN and 0 <= s.hidden[1] <= MAX_HIDDEN)),
    "train_steps": _within("train_steps", 1, MAX_TRAIN_STEPS),
    "train_samples": _within("train_samples", *TRAIN_SAMPLES),
    "bounded_starts": _within("bounded_starts", 1, MAX_BOUNDED_STARTS),
    "slices": _within("slices", 0, MAX_SLICES),
    "palette": lambda s: s.palette in ("auto", "on", "off"),
    "differences": lambda s: s.differences in ("auto", "on", "off"),
    "pull": lambda s: s.pull in ("auto", "on", "off"),
    "palette_max": _within("palette_max", 2, MAX_ENTRIES),
    "mixing": lambda s: isinstance(s.mixing, bool),
    "order": lambda s: s.order in ("auto", "display", "two-sided"),
    "fixity": lambda s: isinstance(s.fixity, bool),
}

# What each key means; the file ``dump`` writes carries these as comments.
KEYS = {
    "max_error": "bound on |decoded - source| for every sample; 0 is lossless",
    "min_group": "shortest group a scene cut may close (frames)",
    "max_group": "longest group (frames); each group decodes on its own",
    "group_size": "if not 0: exactly this many frames per group, scene cuts ignored",
    "inter": "predict frames from earlier frames of their group (motion); false codes every "
             "frame intra: no frame reads another's samples, though a group's frames still "
             "share its networks, colour dictionary and adaptive contexts",
    "block": "motion block size in samples of plane 0: 4, 8, 16, 32, 64 or 128",
    "refs": f"reference frames a block may predict from, 1 to {MAX_REFS}",
    "search_range": "motion search range in samples",
    "subpel": "search half and quarter sample motion",
    "motion_lambda": "weight of a vector's estimated bits against its residuals' cost in motion search "
                     "(0: 3 lossless, 4 with a bound)",
    "hidden": "widths of the network's two hidden layers [first, second] (second 0: one "
              "layer); [0, 0] chooses per group between [16, 8] and [32, 16]",
    "train_steps": "training steps per group, of 1024 rows each (lossless: twice as many "
                   "steps of 512 rows, and in groups of several frames each network's 0.5 "
                   "to 2.6 times that by the share of the group it codes)",
    "train_samples": "samples per plane and frame kind that training draws from (lossless "
                     "groups of several frames: 5/3 as many)",
    "bounded_starts": "near-lossless only: first passes and retrainings of the networks, "
                      "each from a random start and coded, the smallest kept (sizes swing "
                      "with the start); with pull = auto the first start takes two of them, "
                      "without and with the pull",
    "slices": "slices per frame (decode threads); 0 chooses from the frame size",
    "palette": "colour dictionary: auto (kept where it makes the group smaller), on, off",
    "palette_max": f"most colours a palette may hold (2 to {MAX_ENTRIES}); a one-plane "
                   "set holds at most an eighth of its values, a chroma pair at most 256",
    "differences": "lossless RGB: code red and blue as differences from green: auto (where "
                   "the estimate says it is smaller), on, off",
    "mixing": "code each sample's zero flag and sign with its adaptive model mixed with the "
              "network's own probability: about 0.7 % smaller, decoding about a fifth slower",
    "order": "coding order in a group: display (each frame predicted from earlier ones), "
             "two-sided (0, 2, 1, 4, 3, ...: odd frames predicted from both sides, blocks "
             "averaging two references) or auto (by an estimate, per group)",
    "pull": "with a bound: predict from samples pulled by the bound towards their "
            "predictions (the samples shown stay within it): auto (coded both ways, per "
            "group, the smaller kept), on, off",
    "fixity": "store each frame's MD5 (as ffmpeg -f framemd5 gives it), so verify and "
              "framemd5 work without the source",
}
assert set(KEYS) == set(RULES) == {f.name for f in fields(EncodeSettings)}

PRESETS = {
    "fast": EncodeSettings(refs=1, search_range=16, hidden=(16, 8), train_steps=200,
                           train_samples=20000, bounded_starts=1, order="display"),
    "default": EncodeSettings(),
    "best": EncodeSettings(refs=4, search_range=96, hidden=(32, 32), train_steps=1500,
                           train_samples=200000, max_group=120, bounded_starts=3,
                           mixing=True),
}


def preset(name: str) -> EncodeSettings:
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r}; choose one of "
                         f"{', '.join(PRESETS)}") from None


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
        if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
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
    return base.replace(**changes)


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
    from ..io.outputs import atomic_output

    lines = [f"# {line}" for line in header.splitlines()] + [""] if header else []
    for f in fields(EncodeSettings):
        lines.append(f"# {KEYS[f.name]}")
        lines.append(f"{f.name} = {_toml_value(getattr(settings, f.name))}")
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
