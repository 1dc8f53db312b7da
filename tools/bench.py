#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""framecodec benchmark: size, fidelity, speed and memory against reference codecs.

The entry point of tools/benchkit/, whose package docstring (and ``--help``) lists the codecs
and how everything is measured. This file is also the child each encode and decode runs in
(``--child JOB RESULT``), so that the child's peak memory is the codec's alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchkit lives beside this file; the children run this file too, so they find it the same way.
TOOLS_DIR = str(Path(__file__).resolve().parent)
if TOOLS_DIR not in sys.path:
    sys.path.insert(0, TOOLS_DIR)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        from benchkit.runner import child_main

        sys.exit(child_main(sys.argv[2], sys.argv[3]))
    from benchkit.cli import main

    sys.exit(main())
