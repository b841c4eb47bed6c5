"""Inference cameras: the 10 presets against upstream's JSON, custom trajectories from moves and files."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from recam.cameras import (TrajectoryError, inference_cam_emb, latent_frame_indices, load_camera_extrinsics,
                           load_trajectory, preset_trajectory, trajectory_from_moves)
from synth.core.rigid import rotation_angle_deg


@pytest.mark.parametrize("cam_type", range(1, 11))
def test_presets_match_upstream_json(example, golden, cam_type):
    ref = load_camera_extrinsics(example / "cameras/camera_extrinsics.json")[f"cam{cam_type:02d}"]
    got = preset_trajectory(cam_type, 81)
    assert got.shape == (81, 4, 4)
    assert np.abs(got[:, :3, 3] - ref[:, :3, 3]).max() <= 1e-3          # <= 1 mm
    assert rotation_angle_deg(got[:, :3, :3], ref[:, :3, :3]).max() <= 0.05
    emb = inference_cam_emb(got)
    assert np.abs(emb - np.load(golden / "cameras.npz")["infer_cam_emb"][cam_type - 1]).max() < 1e-4


def test_preset_errors():
    with pytest.raises(ValueError, match="1..10"):
        preset_trajectory(11)
    with pytest.raises(ValueError, match="4k"):
        latent_frame_indices(80)
    assert len(latent_frame_indices(81)) == 21


def _yaw_right_deg(c2w):  # rotation about the camera's y (down) axis, + = right
    return np.degrees(np.arctan2(c2w[0, 2], c2w[2, 2]))


def test_moves_semantics():
    t = trajectory_from_moves({"segments": [{"pan": 20}]}, 81)
    assert np.allclose(t[0], np.eye(4)) and _yaw_right_deg(t[-1]) == pytest.approx(20)
    t = trajectory_from_moves({"segments": [{"tilt": 10}]}, 9)
    assert t[-1][1, 2] == pytest.approx(-np.sin(np.radians(10)))  # forward gains an up (-y) component
    t = trajectory_from_moves({"segments": [{"dolly": 2, "truck": -1, "pedestal": 0.5}]}, 5)
    assert np.allclose(t[-1][:3, 3], [-1, -0.5, 2]) and np.allclose(t[-1][:3, :3], np.eye(3))
    t = trajectory_from_moves({"segments": [{"arc": {"deg": 30, "distance": 4}}]}, 81)
    assert np.allclose(t[-1][:3, 3], [-4 * np.sin(np.radians(30)), 0, 4 - 4 * np.cos(np.radians(30))])
    ahead = t[:, :3, :3] @ np.array([0, 0, 1.0])  # keeps facing the pivot
    to_pivot = np.array([0, 0, 4.0]) - t[:, :3, 3]
    assert np.allclose(np.cross(ahead, to_pivot / np.linalg.norm(to_pivot, axis=1)[:, None]), 0, atol=1e-9)
    # segments play one after another in the camera frame of each segment's start
    t = trajectory_from_moves({"segments": [{"frames": 40, "pan": 90}, {"dolly": 1}]}, 81)
    assert np.allclose(t[40][:3, 3], 0) and np.allclose(t[-1][:3, 3], [1, 0, 0], atol=1e-9)
    # eased speed: upstream's exp profile
    t = trajectory_from_moves({"speed": {"profile": "eased", "a": 3}, "segments": [{"dolly": 1}]}, 11)
    u = (1 - np.exp(-3 * np.arange(11) / 10)) / (1 - np.exp(-3))
    assert np.allclose(t[:, 2, 3], u)


def test_moves_yaml_and_errors(tmp_path, example):
    p = tmp_path / "traj.yaml"
    p.write_text(yaml.safe_dump({"segments": [{"pan": -10, "dolly": 0.5}]}))
    assert load_trajectory(p, 17).shape == (17, 4, 4)
    for spec, needle in [({"segments": [{"zoom": 2}]}, "unknown keys"),
                         ({"segments": [{"pan": "a lot"}]}, "pan: expected a number"),
                         ({"segments": [{"frames": 100, "pan": 1}]}, "add up"),
                         ({"segs": []}, "segments"),
                         ({"segments": [{"arc": 30}]}, "arc")]:
        p.write_text(yaml.safe_dump(spec))
        with pytest.raises(TrajectoryError, match=needle):
            load_trajectory(p, 81)
    with pytest.raises(TrajectoryError, match="choose one"):
        load_trajectory(example / "cameras/camera_extrinsics.json", 81)
    t = load_trajectory(example / "cameras/camera_extrinsics.json", 81, camera="cam05")
    assert np.allclose(t, preset_trajectory(5), atol=1e-3)
    with pytest.raises(TrajectoryError, match="frames"):
        load_trajectory(example / "cameras/camera_extrinsics.json", 85, camera="cam05")
