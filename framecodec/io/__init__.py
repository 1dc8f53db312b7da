# SPDX-License-Identifier: MIT
"""Everything outside the codec: media files (PyAV) and atomic outputs.

``io`` never imports the codec (format, coding, encoder): it deals in
``VideoInfo`` and ``Frame`` objects only. Importing the package loads no
PyAV; ``io.media`` does.
"""
