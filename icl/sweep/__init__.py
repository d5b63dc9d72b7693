"""Grids over shapes: one program (work dir) per point, run locally or on Ray.

`python -m icl.sweep --config=configs/sweeps/<name>.py --workdir=DIR`; the sweep
config format, the directory layout and summary.csv are in docs/sweeps.md. (Values
that keep shapes, e.g. learning rates, are swept inside one program instead:
config.sweep, `icl.config_lib.HparamAxis`.)
"""
