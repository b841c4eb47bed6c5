"""``recam studio``: design a re-capture trajectory in the browser (viser) over the source video's 3D scene.

Modules: :mod:`.keyframes` (keyframes -> the YAML moves of ``recam infer --trajectory``, the one interpolation),
:mod:`.source` (the source video: frames, estimated camera path, point cloud, scale), :mod:`.preview` (the point
cloud seen from the new trajectory, warnings), :mod:`.app` (the viser app), :mod:`.run` (the service behind the
command). Coordinates everywhere: OpenCV axes (x right, y down, z forward) of the source camera at frame 0, metres.
"""
