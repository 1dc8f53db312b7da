# SPDX-License-Identifier: MIT
"""The encoder: the only place that makes a choice.

settings.py (what can be chosen), pipeline.py (a file: demux, groups,
container), jobs.py (groups as independent jobs; executors), grouping.py
(scene cuts), analysis.py (motion, palettes, training, measured choices),
groupcoder.py (an analysed group to bytes), motion.py, palettes.py,
modelfit.py and train.py (fitting; the training kernel is
kernels/training.py), optim.py (Adam's schedule), targets.py (rate
control), tune.py.
"""
