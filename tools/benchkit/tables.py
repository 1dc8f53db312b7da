# SPDX-License-Identifier: MIT
"""The markdown tables of the report (stdout and results.md)."""

from __future__ import annotations

from collections.abc import Sequence

from .rows import VIDEO_REFS, Row, Total, bounded_rows, equal_psnr, ladders_in, ratio, rows_by_key


def fmt(x: float | None, digits: int) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _check_cell(row: Row) -> str:
    if row.ok is None:
        return "–"
    if row.max_error is None:
        return "decoded" if row.ok else "**NO**"
    if row.max_error == 0:
        return "yes" if row.ok else "**NO**"
    return f"{'yes' if row.ok else '**NO**'} (max {row.measured_max_error})"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ) + " |"

    sep = "| " + " | ".join(("-" * (w - 1) + ":") if i in right else "-" * w
                            for i, w in enumerate(widths)) + " |"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def header_for(refs: Sequence[tuple[str, str]]) -> list[str]:
    return (["clip", "codec", "max_error", "bytes", "bits/sample"]
            + [f"÷{label}" for _, label in refs]
            + ["÷JPEG-LS(N)", "enc fps", "dec fps", "exact/bound ok"])


def clip_table(rows: Sequence[Row], refs: Sequence[tuple[str, str]] = VIDEO_REFS) -> str:
    """Lossless and bounded-error points (ladders are in rd_table)."""
    idx = rows_by_key(rows)
    header = header_for(refs)
    out = []
    for r in bounded_rows(rows):
        if r.status != "ok":
            out.append([r.clip, r.codec, str(r.max_error), r.status]
                       + ["–"] * (len(header) - 5) + [r.status])
            continue

        def ref(codec: str, n: int = 0) -> str:
            other = idx.get((r.clip, codec, n))
            return fmt(ratio(r.bytes, other.bytes if other else None), 3)

        out.append([
            r.clip, r.codec, str(r.max_error), str(r.bytes), fmt(r.bits_per_sample, 3),
            *[ref(k) for k, _ in refs], ref("jpegls", r.max_error),
            fmt(r.encode_fps, 1), fmt(r.decode_fps, 1), _check_cell(r),
        ])
    return markdown_table(header, out, set(range(2, len(header) - 1)))


def totals_table(tots: Sequence[Total], rows: Sequence[Row],
                 refs: Sequence[tuple[str, str]] = VIDEO_REFS) -> str:
    header = header_for(refs)
    out = []
    for t in tots:
        out.append([
            "TOTAL" + (f" ({t.note})" if t.note else ""), t.codec, str(t.max_error), str(t.bytes),
            fmt(t.bits_per_sample, 3), *[fmt(t.ratios.get(k), 3) for k, _ in refs],
            fmt(t.ratio_jpegls, 3), fmt(t.encode_fps, 1), fmt(t.decode_fps, 1),
            "yes" if t.ok else "**NO**",
        ])
    # Codecs that produced nothing on any clip (framecodec missing, or failing everywhere).
    done = {(t.codec, t.max_error) for t in tots}
    for codec, n in dict.fromkeys((r.codec, r.max_error) for r in bounded_rows(rows)):
        if (codec, n) not in done:
            status = "n/a" if all(r.status == "n/a" for r in rows
                                  if (r.codec, r.max_error) == (codec, n)) else "error"
            out.append(["TOTAL", codec, str(n), status] + ["–"] * (len(header) - 5) + [status])
    return markdown_table(header, out, set(range(2, len(header) - 1)))


def _plane_cell(values: Sequence[float | None] | None, digits: int) -> str:
    if not values:
        return "–"
    return "/".join("∞" if v is None else f"{v:.{digits}f}" for v in values)


def rd_table(rows: Sequence[Row], psnr_name: str = "PSNR-YUV") -> str:
    """Every lossy point: fidelity, and size against each ladder at the same PSNR."""
    ladders = ladders_in(rows)
    header = (["clip", "codec", "setting", "bytes", "bits/sample", "PSNR planes",
               psnr_name, "SSIM", "max err"] + [f"÷{k}@=PSNR" for k in ladders])
    out = []
    for r in rows:
        if not r.lossy:
            continue
        cells = [r.clip, r.codec, r.setting, str(r.bytes), fmt(r.bits_per_sample, 4),
                 _plane_cell(r.psnr_db, 2), fmt(r.psnr_yuv_db, 2), fmt(r.ssim_yuv, 5),
                 ("–" if r.measured_max_error is None else str(r.measured_max_error))
                 + (f" (≤{r.max_error})" if r.max_error else "")]
        for k in ladders:
            if k == r.codec:
                cells.append("")
                continue
            e = equal_psnr(rows, r, k)
            cells.append(fmt(e["ratio"], 3) if e["ratio"] is not None else "n/a")
        out.append(cells)
    if not out:
        return "(no lossy points)"
    return markdown_table(header, out, set(range(3, len(header))) - {5})


def equal_psnr_table(summary: Sequence[dict], n_clips: int, psnr_name: str = "PSNR-YUV") -> str:
    if not summary:
        return "(no bounded lossy points)"
    ladders = list(summary[0]["ladders"])
    header = (["codec", "setting", "clips", "bits/sample", f"mean {psnr_name}"]
              + [f"÷{k}@=PSNR (geomean, clips)" for k in ladders])
    out = []
    for e in summary:
        cells = [e["codec"], e["setting"], str(e["clips"]), fmt(e["bits_per_sample"], 4),
                 fmt(e["mean_psnr_yuv_db"], 2)]
        for k in ladders:
            ld = e["ladders"][k]
            g = ld["geomean_ratio"]
            cells.append(f"{fmt(g, 3)} ({ld['clips']}/{e['clips']})" if g is not None else
                         f"n/a (0/{e['clips']})")
        out.append(cells)
    return markdown_table(header, out, set(range(2, len(header))))


def speed_table(summary: Sequence[dict]) -> str:
    any_mt = any(e["threads_all"] for e in summary)
    n = next((e["threads_all"]["threads"] for e in summary if e["threads_all"]), None)
    header = ["codec", "setting", "frames", "enc fps", "dec fps"]
    if any_mt:
        header += [f"enc fps ({n}T)", f"dec fps ({n}T)"]
    header += ["enc MB", "dec MB"]
    if any_mt:
        header += [f"enc MB ({n}T)", f"dec MB ({n}T)"]
    out = []
    for e in summary:
        mt = e["threads_all"] or {}
        cells = [e["codec"], e["setting"], str(e["frames"]), fmt(e["encode_fps"], 2),
                 fmt(e["decode_fps"], 2)]
        if any_mt:
            cells += [fmt(mt.get("encode_fps"), 2), fmt(mt.get("decode_fps"), 2)]
        cells += [fmt(e["encode_mem_mb"], 1), fmt(e["decode_mem_mb"], 1)]
        if any_mt:
            cells += [fmt(mt.get("encode_mem_mb"), 1), fmt(mt.get("decode_mem_mb"), 1)]
        out.append(cells)
    return markdown_table(header, out, set(range(2, len(header))))
