"""Datasets on disk: writing scene folders and the run manifest, and reading them back to check them.

:mod:`.writer` (atomic scene folders, ``metadata.csv``, ``synth_run.json``), :mod:`.validate` (format + recipe),
:mod:`.verify` (poses against pixels), :mod:`.stats` (distributions), :mod:`.plot` (frusta and paths).
"""
