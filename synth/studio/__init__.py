"""``synth studio DATASET``: browse a multi-camera dataset in the browser (viser): each scene's 10 camera paths
around the character, each camera's video, and ``synth validate`` / ``synth verify`` results colouring the cameras.

Modules: :mod:`.scenes` (what is shown, read from the dataset: pure data, tested without a browser), :mod:`.app`
(the viser app), :mod:`.run` (settings and the service behind the command).
"""
