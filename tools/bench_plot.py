#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Plots of a tools/bench.py report (matplotlib: the optional ``bench`` extra).

    python tools/bench_plot.py docs/bench/results.json docs/bench   # redraw rd.png, lossless.png

rd.png: bits per sample against PSNR-YUV, one panel per clip, every codec a curve; lossless
points are drawn at a capped PSNR on the right edge ("lossless" line); framecodec's points are
stars labelled with their guaranteed bound (e <= N). lossless.png: lossless bits per sample,
one panel per clip, a bar per codec.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

CODEC_STYLE = {  # colour, marker, label
    "ffv1": ("#7f7f7f", "s", "FFV1"),
    "x264": ("#1f77b4", "s", "x264 lossless"),
    "x265": ("#2ca02c", "s", "x265 lossless"),
    "jxl": ("#9467bd", "D", "JPEG XL lossless"),
    "png": ("#8c564b", "P", "PNG"),
    "jpegls": ("#ff7f0e", "^", "JPEG-LS (NEAR=N)"),
    "x264crf": ("#1f77b4", "o", "x264 CRF ladder"),
    "x265crf": ("#2ca02c", "o", "x265 CRF ladder"),
    "jpeg": ("#bcbd22", "v", "JPEG quality ladder"),
    "framecodec": ("#d62728", "*", "framecodec (max |error| ≤ N, guaranteed)"),
}
ORDER = list(CODEC_STYLE)


def _style(codec: str) -> tuple[str, str, str]:
    return CODEC_STYLE.get(codec, ("#17becf", "x", codec))


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, max(n, 1))
    return math.ceil(n / cols), cols


def _measured(row: dict) -> bool:
    return row.get("status") == "ok" and row.get("bytes") is not None


def _panel_title(clip: dict) -> str:
    frames = clip["frames"]
    what = "image" if clip.get("kind") == "image" else f"{frames} frame{'s' * (frames != 1)}"
    return f"{clip['name']}\n{clip['width']}x{clip['height']} {clip['pix_fmt']}, {what}"


def _tick(value: float, _pos=None) -> str:
    return f"{value:g}"


def _minor_tick(value: float, _pos=None) -> str:
    """Label the 2x, 3x and 5x minor ticks of a log axis, the others stay blank."""
    if value <= 0:
        return ""
    lead = value / 10 ** math.floor(math.log10(value) + 1e-9)
    return f"{value:g}" if round(lead, 6) in (2.0, 3.0, 5.0) else ""


def _sorted_codecs(rows: list[dict]) -> list[str]:
    seen = list(dict.fromkeys(r["codec"] for r in rows))
    return sorted(seen, key=lambda c: ORDER.index(c) if c in ORDER else len(ORDER))


def rd_plot(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    clips = report["clips"]
    rows = [r for r in report["rows"] if _measured(r)]
    psnr_label = "PSNR (dB)" if report.get("mode") == "images" else "PSNR-YUV (dB)"
    nrows, ncols = _grid(len(clips))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 4.4 * nrows + 0.9),
                             squeeze=False)
    used: dict[str, Line2D] = {}
    for ax, clip in zip(axes.flat, clips):
        mine = [r for r in rows if r["clip"] == clip["name"]]
        finite = [r["psnr_yuv_db"] for r in mine if not r.get("exact")
                  and r.get("psnr_yuv_db") is not None]
        cap = math.ceil(max(finite)) + 3 if finite else 60
        lo = math.floor(min(finite)) - 1 if finite else cap - 10
        step = 0.025 * (cap - lo)
        lossless_codecs = [c for c in _sorted_codecs(mine)
                           if any(r["codec"] == c and r.get("exact") for r in mine)]
        for codec in _sorted_codecs(mine):
            colour, marker, label = _style(codec)
            # Lossless markers side by side around the cap, so that none hides another.
            k = lossless_codecs.index(codec) if codec in lossless_codecs else 0
            x_exact = cap + (k - (len(lossless_codecs) - 1) / 2) * step
            pts = sorted(((r["psnr_yuv_db"], r["bits_per_sample"], r) for r in mine
                          if r["codec"] == codec and not r.get("exact")
                          and r.get("psnr_yuv_db") is not None), key=lambda t: t[:2])
            exact = [r for r in mine if r["codec"] == codec and r.get("exact")]
            size = 12 if codec == "framecodec" else 6
            if pts:
                ax.plot([p for p, _, _ in pts], [b for _, b, _ in pts], color=colour,
                        marker=marker, markersize=size, linewidth=1.4, zorder=3)
            for r in exact:
                ax.plot([x_exact], [r["bits_per_sample"]], color=colour, marker=marker,
                        markersize=size + 2, markeredgecolor="black", linestyle="none",
                        zorder=4)
                if pts:  # the bounded codecs reach lossless at N = 0: dotted, no real PSNR
                    ax.plot([pts[-1][0], x_exact], [pts[-1][1], r["bits_per_sample"]],
                            color=colour, linestyle=":", linewidth=1.0, zorder=2)
            if codec == "framecodec":
                for p, b, r in pts:
                    ax.annotate(f"e≤{r['max_error']}", (p, b), textcoords="offset points",
                                xytext=(6, 5), fontsize=8, color=colour, fontweight="bold")
            used.setdefault(codec, Line2D([], [], color=colour, marker=marker,
                                          markersize=8 if codec == "framecodec" else 6,
                                          linestyle="-" if pts else "none", label=label))
        ax.axvline(cap, color="black", linestyle="--", linewidth=0.8, alpha=0.5, zorder=1)
        ax.text(cap - step * (len(lossless_codecs) + 1) / 2, 0.02, "lossless",
                transform=ax.get_xaxis_transform(), rotation=90, ha="right", va="bottom",
                fontsize=8)
        ax.set_xlim(lo, cap + step * (len(lossless_codecs) + 2) / 2)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(_tick))
        ax.yaxis.set_minor_formatter(FuncFormatter(_minor_tick))
        ax.set_title(_panel_title(clip), fontsize=9)
        ax.set_xlabel(psnr_label + "  (lossless drawn at the right edge)")
        ax.set_ylabel("bits per sample (log)")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(clips):]:
        ax.axis("off")
    handles = [used[c] for c in _sorted_codecs([{"codec": c} for c in used])]
    handles.append(Line2D([], [], color="black", marker="s", markeredgecolor="black",
                          linestyle="none", label="lossless point (drawn at capped PSNR)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), fontsize=9,
               frameon=False)
    fig.suptitle("Size against fidelity, same frames for every codec", fontsize=11)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * math.ceil(len(handles) / 4), 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lossless_plot(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    clips = report["clips"]
    rows = [r for r in report["rows"] if _measured(r) and r.get("exact")]
    nrows, ncols = _grid(len(clips))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 4.0 * nrows + 0.7),
                             squeeze=False)
    used: dict[str, Patch] = {}
    for ax, clip in zip(axes.flat, clips):
        mine = [r for r in rows if r["clip"] == clip["name"]]
        codecs = _sorted_codecs(mine)
        values = [min(r["bits_per_sample"] for r in mine if r["codec"] == c) for c in codecs]
        colours = [_style(c)[0] for c in codecs]
        bars = ax.bar(range(len(codecs)), values, color=colours, edgecolor="black",
                      linewidth=0.5)
        for bar, v in zip(bars, values):
            ax.annotate(f"{v:.3f}", (bar.get_x() + bar.get_width() / 2, v),
                        textcoords="offset points", xytext=(0, 2), ha="center", fontsize=8)
        ax.set_xticks(range(len(codecs)), codecs, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("lossless bits per sample")
        ax.set_xlabel("codec")
        ax.set_ylim(0, max(values) * 1.15 if values else 1)
        ax.set_title(_panel_title(clip), fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        for c in codecs:
            colour, _, label = _style(c)
            used.setdefault(c, Patch(facecolor=colour, edgecolor="black",
                                     label=label.replace(" (NEAR=N)", " NEAR=0").replace(
                                         " (max |error| ≤ N, guaranteed)", " lossless")))
    for ax in list(axes.flat)[len(clips):]:
        ax.axis("off")
    handles = [used[c] for c in _sorted_codecs([{"codec": c} for c in used])]
    fig.legend(handles=handles, loc="lower center", ncol=min(6, max(len(handles), 1)),
               fontsize=9, frameon=False)
    fig.suptitle("Lossless size (smaller is better)", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(report: dict, outdir: Path) -> list[Path]:
    """rd.png and lossless.png in ``outdir``; raises ImportError without matplotlib."""
    import matplotlib  # noqa: F401 - fail early and clearly

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [rd_plot(report, outdir / "rd.png"), lossless_plot(report, outdir / "lossless.png")]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    report = json.loads(Path(argv[0]).read_text())
    for p in write_plots(report, Path(argv[1])):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
