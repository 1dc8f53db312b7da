# SPDX-License-Identifier: MIT
"""Command line: ``framecodec encode | decode | info | verify | framemd5 | tune``.

A ``FramecodecError`` (bad input, bad option, damaged file) or running out
of memory prints one line on stderr and exits with status 2; ``--debug``
shows the traceback instead.
Imports are made inside each command so ``framecodec info`` starts fast and
decoding never loads the encoder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from .errors import FramecodecError

EXIT_USAGE = 2


def _frame_range(text: str) -> tuple[int, int | None]:
    """'A:B' -> (A, B); 'A:' -> (A, None); ':B' -> (0, B)."""
    try:
        a, _, b = text.partition(":")
        if not _:
            raise ValueError
        return int(a or 0), (int(b) if b else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"frame range {text!r} is not START:STOP") from None


def _add_targets(p: argparse.ArgumentParser, bound: str, psnr: str, size: str) -> None:
    """The mutually exclusive quality or size targets of encode and tune."""
    p.add_argument("--max-error", type=int, default=None, metavar="N", help=bound)
    p.add_argument("--target-psnr", type=float, default=None, metavar="DB", help=psnr)
    p.add_argument("--target-size", type=_size, default=None, metavar="BYTES", help=size)
    p.add_argument("--target-bitrate", type=_size, default=None, metavar="BITS/S",
                   help="like --target-size, from a bitrate (e.g. 8M) and the clip's duration")


def _add_settings(p: argparse.ArgumentParser, preset: str, config: str) -> None:
    p.add_argument("--preset", choices=["fast", "default", "best"], default=None, help=preset)
    p.add_argument("--config", type=Path, default=None, metavar="TOML", help=config)


def _add_ray(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ray", action="store_true",
                   help="code groups as Ray tasks: on the cluster at $RAY_ADDRESS, else on a "
                        "local Ray instance (pip install 'framecodec[ray]')")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="the Ray cluster to use (implies --ray), e.g. 10.0.0.1:6379")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="framecodec", description=(
        "Learned predictive video coding: lossless, or every sample within --max-error."))
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    e = sub.add_parser("encode", help="encode a video or image sequence into a .fcv file")
    e.add_argument("input", type=Path)
    e.add_argument("-o", "--output", type=Path, help="output .fcv (default: INPUT.fcv)")
    _add_targets(e, "bound on |decoded - source| for every sample (default 0: lossless)",
                 "choose each group's bound so its PSNR is at least DB (measured)",
                 "choose bounds so the file fits BYTES (e.g. 20M; measured)")
    _add_settings(e, "built-in settings (default: default)",
                  "settings file, e.g. the framecodec.toml written by 'tune'")
    e.add_argument("--palette", choices=["auto", "on", "off"], default=None,
                   help="colour dictionary: auto (default: where it makes a group smaller), "
                        "on (whenever a group's colours fit) or off")
    e.add_argument("--differences", choices=["auto", "on", "off"], default=None,
                   help="lossless RGB: code red and blue as differences from green: auto "
                        "(default: where that is estimated smaller), on or off")
    e.add_argument("--order", choices=["auto", "display", "two-sided"], default=None,
                   help="coding order in a group: auto (default: two-sided where estimated "
                        "smaller, lossless), display, or two-sided (0, 2, 1, 4, 3, ...: odd "
                        "frames predicted from both sides)")
    e.add_argument("--pull", choices=["auto", "on", "off"], default=None,
                   help="with --max-error: predict from samples pulled by the bound towards "
                        "their predictions (every sample shown stays within it): auto "
                        "(default: per group, where that codes smaller), on or off")
    e.add_argument("--group-size", type=int, default=None, metavar="FRAMES",
                   help="exactly this many frames per group (default: groups start at scene "
                        "cuts, within --min-group and --max-group)")
    e.add_argument("--min-group", type=int, default=None, metavar="FRAMES",
                   help="shortest group a scene cut may close (default 8)")
    e.add_argument("--max-group", type=int, default=None, metavar="FRAMES",
                   help="longest group (default 60); each group decodes on its own")
    e.add_argument("--intra-only", action="store_true",
                   help="code every frame intra (no motion): for image sequences whose frames "
                        "do not repeat each other's content; a group's frames still share "
                        "its networks")
    e.add_argument("--frames", type=_frame_range, default=None, metavar="START:STOP",
                   help="encode only source frames [START, STOP)")
    e.add_argument("--jobs", type=int, default=None,
                   help="groups encoded in parallel processes (default: the cores)")
    e.add_argument("--threads", type=int, default=None,
                   help="threads in all (slices, training; default: the cores); "
                        "with --ray, each group's (default 1)")
    e.add_argument("--no-audio", action="store_true", help="drop the source's audio")
    _add_ray(e)
    e.add_argument("--shared-input", action="store_true",
                   help="with --ray: each task reads its own frames from INPUT, which every "
                        "node sees at the same path (instead of receiving them)")
    e.add_argument("--resume", action="store_true",
                   help="continue an interrupted encode from the journal next to the output "
                        "(OUTPUT.journal): code only the groups it lacks")
    e.add_argument("-y", "--overwrite", action="store_true", help="overwrite the output")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")

    d = sub.add_parser("decode", help="decode a .fcv file to .y4m, .mkv (FFV1) or .mp4 (H.264)")
    d.add_argument("input", type=Path)
    d.add_argument("-o", "--output", type=Path, required=True,
                   help="out.y4m, out.mkv, out.mp4, out/%%05d.png, or - for y4m on stdout")
    d.add_argument("--frames", type=_frame_range, default=None, metavar="START:STOP",
                   help="decode only frames [START, STOP) (reads only their groups)")
    d.add_argument("--lossless", action="store_true", help="mp4: H.264 at qp 0 (exact frames)")
    d.add_argument("--crf", type=int, default=None, help="mp4: x264 quality (default 18)")
    d.add_argument("--threads", type=int, default=None,
                   help="threads (a frame's slices, and the next frame's where slices "
                        "outnumber threads; default: the cores)")
    d.add_argument("--no-audio", action="store_true", help="leave the stored audio out")
    d.add_argument("--conceal", action="store_true",
                   help="on damage, repeat the last good frame (reported) and go on")
    _add_max_memory(d)
    d.add_argument("-y", "--overwrite", action="store_true", help="overwrite the output")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")

    t = sub.add_parser("tune", help="search encoder settings for a clip and a target; write "
                                    "them to a settings file")
    t.add_argument("input", type=Path)
    t.add_argument("-o", "--output", type=Path, default=Path("framecodec.toml"),
                   help="settings file to write (default framecodec.toml)")
    _add_targets(t, "fixed bound (default 0: lossless); minimise size",
                 "every group at least DB; minimise size", "whole clip in BYTES; maximise quality")
    t.add_argument("--min-fps", type=float, default=None,
                   help="refuse settings that encode slower than this (frames/s, one thread)")
    t.add_argument("--min-decode-fps", type=float, default=None,
                   help="refuse settings that decode slower than this")
    _add_settings(t, "settings to start the search from", "settings file to start from")
    _add_ray(t)
    t.add_argument("--sample-frames", type=int, default=60,
                   help="frames per sample window (default 60; a second window is taken from "
                        "the middle of long clips)")
    t.add_argument("--budget", type=float, default=900, metavar="SECONDS",
                   help="stop searching after this long (default 900)")
    t.add_argument("-y", "--overwrite", action="store_true", help="overwrite the output")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    i = sub.add_parser("info", help="describe a .fcv file: stream and groups")
    i.add_argument("input", type=Path)
    i.add_argument("--json", action="store_true", help="machine-readable output")

    v = sub.add_parser("verify", help="check every CRC, decode everything and check each "
                                      "frame's MD5; compare to a source")
    v.add_argument("input", type=Path)
    v.add_argument("source", type=Path, nargs="?", help="the original, to measure the error")
    v.add_argument("--threads", type=int, default=None, help="threads (default: the cores)")
    _add_max_memory(v)

    m = sub.add_parser("framemd5", help="each frame's MD5 as ffmpeg -f framemd5 prints it")
    m.add_argument("input", type=Path)
    m.add_argument("-o", "--output", type=Path, default=None, help="write here (default: "
                                                                   "standard output)")
    m.add_argument("--decode", action="store_true",
                   help="hash the decoded frames (each checked against its stored MD5)")
    m.add_argument("--threads", type=int, default=None, help="threads (default: the cores)")
    m.add_argument("-y", "--overwrite", action="store_true", help="overwrite the output")
    _add_max_memory(m)
    return p


def _add_max_memory(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-memory", type=_size, default=None, metavar="BYTES",
                   help="refuse a group that needs more to decode (e.g. 4G; default: 3/4 of "
                        "physical memory)")


def _size(text: str) -> int:
    """'1500000', '20M', '1.5G', '800k' -> an integer (powers of 1000)."""
    scale = {"k": 10**3, "m": 10**6, "g": 10**9}
    try:
        if text[-1:].lower() in scale:
            return int(float(text[:-1]) * scale[text[-1].lower()])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 1500000 or 20M") from None


def encode_settings(args):
    """Preset, then settings file, then the options given on the command line."""
    from .encoder import settings as config

    settings = config.preset(args.preset or "default")
    if args.config is not None:
        settings = config.load(args.config, settings)
    overrides = {k: v for k, v in (("max_error", args.max_error), ("min_group", args.min_group),
                                   ("max_group", args.max_group),
                                   ("group_size", args.group_size),
                                   ("palette", getattr(args, "palette", None)),
                                   ("differences", getattr(args, "differences", None)),
                                   ("order", getattr(args, "order", None)),
                                   ("pull", getattr(args, "pull", None)),
                                   ("inter", False if getattr(args, "intra_only", False)
                                    else None)) if v is not None}
    return settings.replace(**overrides) if overrides else settings


def _encode(args) -> int:
    from . import api
    from .errors import UsageError

    settings = encode_settings(args)
    targets = [t for t in (args.target_psnr, args.target_size, args.target_bitrate)
               if t is not None]
    if len(targets) > 1 or (targets and args.max_error is not None):
        raise UsageError("give one of --max-error, --target-psnr, --target-size, "
                         "--target-bitrate")
    target_size = args.target_size
    if args.target_bitrate is not None:
        target_size = _bitrate_size(args, args.target_bitrate)
    result = api.encode(args.input, args.output, frames=args.frames, settings=settings,
                        target_psnr=args.target_psnr, target_size=target_size,
                        jobs=args.jobs, threads=args.threads, overwrite=args.overwrite,
                        progress=not args.quiet, audio=not args.no_audio, ray=args.ray,
                        ray_address=args.ray_address, shared_input=args.shared_input,
                        resume=args.resume)
    if not args.quiet:
        if targets:
            for g, group in enumerate(result.groups_report):
                shown = "inf" if group.psnr == float("inf") else f"{group.psnr:.2f}"
                print(f"  group {g}: {group.frames} frames, max error {group.bound}, "
                      f"PSNR {shown} dB, {group.bytes:,} bytes")
        print(result.summary())
    return 0


def _bitrate_size(args, bits_per_second: int) -> int:
    """Bytes a bitrate allows over the frames to encode (frame count / frame rate)."""
    from .io import media

    with media.open_source(args.input) as source:
        info = source.info
        start, stop = args.frames or (0, None)
        count = info.frame_count
        if count is None or stop is None or stop > count:
            count = sum(1 for _ in source.frames(start, stop))
        else:
            count = min(count, stop) - start
    return int(bits_per_second / 8 * count / float(info.frame_rate))


def _decode(args) -> int:
    from . import api

    concealed: list[int] = []

    def report(frame: int, reason: str) -> None:
        concealed.append(frame)
        print(f"framecodec decode: concealed frame {frame}: {reason}", file=sys.stderr)

    result = api.decode(args.input, args.output, frames=args.frames, threads=args.threads,
                        overwrite=args.overwrite, lossless=args.lossless, crf=args.crf,
                        progress=not args.quiet, audio=not args.no_audio,
                        conceal=args.conceal, on_damage=report, max_memory=args.max_memory)
    if not args.quiet:  # the summary goes to stderr when the frames go to stdout
        out = sys.stderr if str(args.output) == "-" else sys.stdout
        print(result.summary() + (f"; {len(concealed)} frames concealed" if concealed else ""),
              file=out)
    return 1 if concealed else 0


def _tune(args) -> int:
    from .encoder import settings as config
    from .encoder import tune
    from .errors import UsageError
    from .io import media
    from .io.outputs import check_output

    targets = [t for t in (args.max_error, args.target_psnr, args.target_size,
                           args.target_bitrate) if t is not None]
    if len(targets) > 1:
        raise UsageError("give one of --max-error, --target-psnr, --target-size, "
                         "--target-bitrate")
    check_output(args.output, overwrite=args.overwrite)
    start = config.preset(args.preset or "default")
    if args.config is not None:
        start = config.load(args.config, start)
    with media.open_source(args.input) as source:
        info = source.info
        windows = tune.sample_frames(source, info, args.sample_frames)
        count = info.frame_count
    if count is None and (args.target_size or args.target_bitrate):
        count = _count(args.input)
    size = args.target_size
    if args.target_bitrate is not None:
        size = int(args.target_bitrate / 8 * count / float(info.frame_rate))
    target = tune.TuneTarget(
        max_error=args.max_error if args.max_error is not None else 0,
        psnr=args.target_psnr, size_per_frame=size / count if size else None,
        min_encode_fps=args.min_fps, min_decode_fps=args.min_decode_fps)
    if args.max_error is not None:
        start = start.replace(max_error=args.max_error)
    from tqdm import tqdm

    bar = tqdm(total=1 + sum(len(v) for _, v in tune.SEARCH), unit="try", desc="tune",
               disable=args.quiet, leave=False)
    executor = None
    if args.ray or args.ray_address is not None:
        from .encoder.cluster import RayExecutor, RayOptions

        executor = RayExecutor(RayOptions(args.ray_address))
    with bar, contextlib.closing(executor) if executor else contextlib.nullcontext():
        best, trials = tune.tune(info, windows, start, target, budget_seconds=args.budget,
                                 on_trial=lambda t: bar.update(1), executor=executor)
    for line in tune.format_table(trials, best):
        print(line)
    if not best.meets:
        print("warning: no setting tried meets the speed limits; writing the fastest-to-"
              "reject best anyway", file=sys.stderr)
    what = (f"--target-psnr {args.target_psnr}" if args.target_psnr is not None else
            f"--target-size {size}" if size else f"--max-error {target.max_error}")
    config.dump(best.settings, args.output,
                header=f"written by framecodec tune {args.input.name} {what}\n"
                       f"{len(trials)} settings tried on {sum(len(w) for w in windows)} frames; "
                       f"the chosen one codes them in {best.bytes:,} bytes")
    print(f"wrote {args.output}: use it with framecodec encode --config {args.output}")
    return 0


def _count(path) -> int:
    from .io import media

    with media.open_source(path) as source:
        return sum(1 for _ in source.frames())


def _info(args) -> int:
    from .report import describe

    report = describe(args.input)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    s = report["stream"]
    print(f"{args.input}: {s['width']}x{s['height']} {s['pix_fmt']}, {s['frames']} frames, "
          f"{s['frame_rate']} fps, time base {s['time_base']}, max error {s['max_error']}, "
          f"format {s['version']}, {report['bytes']:,} bytes "
          f"({report['bits_per_sample']:.3f} bits/sample); {s['fixity']}")
    print(f"{'group':>5} {'frames':>13} {'started':>7} {'bytes':>11} {'model':>7} "
          f"{'dictionary':>10} {'max err':>7} {'pull':>4} {'order':>9}")
    for g in report["groups"]:
        dictionary = "identity" if not g["palettes"] else "+".join(
            f"{p['colours']}" for p in g["palettes"]) + " colours"
        if g.get("differences"):
            dictionary = "differences" if not g["palettes"] else dictionary + ", diff."
        print(f"{g['index']:>5} {g['first_frame']:>6}-{g['first_frame'] + g['frames'] - 1:<6} "
              f"{g['started']:>7} {g['bytes']:>11,} {g['model_bytes']:>7,} {dictionary:>10} "
              f"{g['max_error']:>7} {g['pull']:>4} {g['order']:>9}")
    return 0


def _verify(args) -> int:
    from .report import verify

    from .machine import cores

    report = verify(args.input, args.source, threads=args.threads or cores(),
                    max_memory=args.max_memory)
    for line in report.lines():
        print(line)
    return 0 if report.sound else 1


def _framemd5(args) -> int:
    from .io.outputs import atomic_output
    from .report import framemd5

    from .machine import cores

    lines, notes = framemd5(args.input, decode=args.decode, threads=args.threads or cores(),
                            max_memory=args.max_memory)
    for note in notes:
        print(f"framecodec framemd5: note: {note}", file=sys.stderr)
    text = "\n".join(lines) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        with atomic_output(args.output, overwrite=args.overwrite, inputs=(args.input,)) as tmp:
            tmp.write_text(text, encoding="ascii")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    commands = {"encode": _encode, "decode": _decode, "info": _info, "verify": _verify,
                "framemd5": _framemd5, "tune": _tune}
    if not getattr(args, "quiet", False) and sys.stderr.isatty():
        from .kernels._jit import notify_first_compile

        notify_first_compile("framecodec: compiling its kernels for this machine (once; about "
                             "a minute)")
    try:
        return commands[args.command](args)
    except FramecodecError as exc:
        if args.debug:
            raise
        print(f"framecodec {args.command}: error: {exc}{_notes(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        print(f"framecodec {args.command}: interrupted; no output was written{_notes(exc)}",
              file=sys.stderr)
        return 130
    except MemoryError:
        if args.debug:
            raise
        print(f"framecodec {args.command}: error: out of memory (see --max-memory; no output "
              "was written)", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        if args.debug:
            raise
        print(f"framecodec {args.command}: error: {exc.strerror or exc}: "
              f"{exc.filename or ''}".rstrip(": ") + _notes(exc), file=sys.stderr)
        return EXIT_USAGE


def _notes(exc: BaseException) -> str:
    """What the encoder added to an error (how to resume), on the same line."""
    return "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
