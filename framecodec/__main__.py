# SPDX-License-Identifier: MIT
"""``python -m framecodec``: the command line."""

import sys

from .cli import main

sys.exit(main())
