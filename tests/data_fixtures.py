"""Small datasets in every supported format, written by the tests themselves (valid clips plus broken ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import numpy as np
from scipy.spatial.transform import Rotation

from synth.core.video_io import write_video

W, H = 64, 48


def frames(n: int, seed: int = 0) -> np.ndarray:
    """A moving colour pattern, (n, H, W, 3) uint8."""
    yy, xx = np.mgrid[0:H, 0:W]
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, 3)
    out = []
    for t in range(n):
        img = np.stack([(xx * 4 + t * 7 + base[0]) % 256, (yy * 5 + t * 3 + base[1]) % 256,
                        ((xx + yy) * 2 + base[2]) % 256], -1)
        out.append(img.astype(np.uint8))
    return np.stack(out)


def rigid(rng: np.random.Generator, n: int, step: float = 0.05) -> np.ndarray:
    """(n, 4, 4) smooth proper c2w trajectory."""
    rot = Rotation.from_rotvec(np.cumsum(rng.normal(0, 0.02, (n, 3)), 0))
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = rot.as_matrix()
    c2w[:, :3, 3] = np.cumsum(rng.normal(0, step, (n, 3)), 0)
    return c2w


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def make_realcam(root: Path, n_frames: int = 13) -> Dict[str, dict]:
    """RealCam-Vid: npz of dicts; clips a, b valid; broken: escaping path, missing file, NaN pose, frame-count
    mismatch (more poses than frames), truncated video."""
    rng = np.random.default_rng(1)
    recs, truth = [], {}
    (root / "videos").mkdir(parents=True)
    for name in ("a", "b", "nanpose", "mismatch", "truncated"):
        n_vid = n_frames - 2 if name == "mismatch" else n_frames
        write_video(root / "videos" / f"{name}.mp4", frames(n_vid, hash(name) % 100), 24)
        c2w = rigid(rng, n_frames)
        w2c = np.linalg.inv(c2w)
        if name == "nanpose":
            w2c[3, 0, 3] = np.nan
        rec = {"video_path": f"videos/{name}.mp4", "short_caption": f"short {name}", "long_caption": f"long {name}",
               "camera_intrinsics": np.array([0.9, 1.2, 0.5, 0.5]), "camera_extrinsics": w2c,
               "align_factor": 2.5, "camera_scale": 1.0, "vtss_score": 0.5}
        recs.append(rec)
        truth[name] = {"c2w": c2w, "align": 2.5}
    truncate(root / "videos" / "truncated.mp4")
    recs.append({**recs[0], "video_path": "../outside/escape.mp4"})
    recs.append({**recs[0], "video_path": "videos/missing.mp4"})
    np.savez(root / "RealCam-Vid_train.npz", np.array(recs, dtype=object))
    return truth


def make_spatialvid(root: Path, n_frames: int = 13) -> Dict[str, dict]:
    """SpatialVID: poses at every 3rd frame (w2c, xyzw quaternions), indexes.txt, intrinsics, captions, one clip
    with a metric scale file and dynamic masks; broken: NaN pose, missing video."""
    rng = np.random.default_rng(2)
    truth = {}
    for name in ("c1", "c2", "badpose", "novideo"):
        clip = root / "annotations" / "group_0001" / name
        clip.mkdir(parents=True)
        idx = np.arange(0, n_frames + 2, 3)
        c2w = rigid(rng, len(idx), 0.2)
        w2c = np.linalg.inv(c2w)
        poses = np.concatenate([w2c[:, :3, 3], Rotation.from_matrix(w2c[:, :3, :3]).as_quat()], 1)
        if name == "badpose":
            poses[1, 2] = np.nan
        np.save(clip / "poses.npy", poses)
        np.save(clip / "intrinsics.npy", np.tile([0.8, 1.1, 0.5, 0.5], (len(idx), 1)))
        (clip / "indexes.txt").write_text("".join(f"{i} {f}\n" for i, f in enumerate(idx)))
        (clip / "caption.json").write_text(json.dumps({"caption": f"caption {name}"}))
        if name != "novideo":
            (root / "videos" / "group_0001").mkdir(parents=True, exist_ok=True)
            write_video(root / "videos" / "group_0001" / f"{name}.mp4", frames(n_frames + 2, 3), 30)
        truth[name] = {"c2w": c2w, "idx": idx}
    clip = root / "annotations" / "group_0001" / "c1"
    (clip / "metric_scale.json").write_text(json.dumps({"scale": 3.0}))
    m = np.zeros((H, W), np.uint8)
    m[10:30, 20:40] = 1
    from scipy.sparse import csr_matrix

    sp = csr_matrix(m)
    np.savez(clip / "dyn_masks.npz", shape=np.array([H, W]), f_0_data=sp.data, f_0_indices=sp.indices,
             f_0_indptr=sp.indptr)
    truth["c1"]["scale"] = 3.0
    return truth


def make_re10k(root: Path, n_frames: int = 13) -> Dict[str, dict]:
    """RealEstate10K: txt (URL + per-frame timestamp, intrinsics, 3x4 w2c) with a video or a frame folder;
    broken: a line with too few numbers, and a clip with no frames."""
    rng = np.random.default_rng(3)
    (root / "poses").mkdir(parents=True)
    truth = {}
    for name in ("r1", "r2", "short", "noframes"):
        c2w = rigid(rng, n_frames)
        w2c = np.linalg.inv(c2w)
        lines = ["https://www.youtube.com/watch?v=XXXX"]
        for i in range(n_frames):
            vals = [i * 33366, 0.9, 1.2, 0.5, 0.5, 0, 0] + w2c[i, :3, :].ravel().tolist()
            if name == "short" and i == 4:
                vals = vals[:10]
            lines.append(" ".join(f"{v:.10g}" for v in vals))
        (root / "poses" / f"{name}.txt").write_text("\n".join(lines) + "\n")
        if name == "r1":
            (root / "videos").mkdir(exist_ok=True)
            write_video(root / "videos" / "r1.mp4", frames(n_frames, 4), 30)
        elif name == "r2":
            d = root / "frames" / "r2"
            d.mkdir(parents=True)
            from PIL import Image

            for i, f in enumerate(frames(n_frames, 5)):
                Image.fromarray(f).save(d / f"{i:06d}.png")
        truth[name] = {"c2w": c2w}
    (root / "poses" / "r1.scale.json").write_text(json.dumps({"scale": 0.5}))
    truth["r1"]["scale"] = 0.5
    return truth


def make_dl3dv(root: Path, n_frames: int = 13) -> Dict[str, dict]:
    """DL3DV: nerfstudio transforms.json (c2w, OpenGL axes) + images; broken: an image missing."""
    from PIL import Image

    rng = np.random.default_rng(4)
    truth = {}
    for name in ("s1", "s2"):
        scene = root / name
        (scene / "images").mkdir(parents=True)
        c2w_cv = rigid(rng, n_frames)
        c2w_gl = c2w_cv @ np.diag([1.0, -1, -1, 1])
        fr = []
        for i, f in enumerate(frames(n_frames, 6)):
            Image.fromarray(f).save(scene / "images" / f"frame_{i:05d}.png")
            fr.append({"file_path": f"images/frame_{i:05d}.png", "transform_matrix": c2w_gl[i].tolist()})
        (scene / "transforms.json").write_text(json.dumps({"fl_x": 50.0, "fl_y": 50.0, "cx": 32.0, "cy": 24.0,
                                                           "w": W, "h": H, "frames": fr[::-1]}))
        truth[name] = {"c2w": c2w_cv}
    (root / "s2" / "images" / "frame_00003.png").unlink()
    return truth
