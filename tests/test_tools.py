# SPDX-License-Identifier: MIT
"""The measuring tools run on a real clip and report what they say they report."""

from __future__ import annotations

import sys

import framecodec
from helpers import FAST, ROOT, SAMPLE

TOOLS = ROOT / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

import decode_threads  # noqa: E402
import profiler  # noqa: E402


def test_profiler_splits_encode_and_decode_into_stages_that_add_up():
    report = profiler.profile(SAMPLE, (0, 3), 0, 1)
    assert report["frames"] == 3 and report["decoded_frames"] == 3
    # both add up by construction: "other ... work" is the rest of each, and the
    # replayed estimates of the slice kernel's passes never exceed the slice time they split
    for what in ("encode", "decode"):
        rows = {row["stage"]: row for row in report[what]}
        total = rows.pop("total")
        assert abs(sum(r["seconds"] for r in rows.values()) - total["seconds"]) \
            <= 1e-6 + 0.001 * total["seconds"]
        assert all(r["seconds"] >= 0 for r in rows.values())
    assert {"training", "motion search"} & {r["stage"] for r in report["encode"]}
    assert "network" in {r["stage"] for r in report["decode"]}
    assert "decode (" in profiler.format_report(report)


def test_decode_threads_reports_each_file_and_the_total(tmp_path, capsys):
    coded = tmp_path / "clip.fcv"
    framecodec.encode(SAMPLE, coded, settings=FAST, frames=(0, 4), audio=False)
    assert decode_threads.main([str(coded), "--threads", "2", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| clip.fcv |") and lines[-1].startswith("| TOTAL |")
    one, two, speedup = (float(v) for v in lines[2].strip("| ").split("|")[1:])
    assert one > 0 and two > 0 and abs(speedup - two / one) < 0.02 * speedup + 0.01
