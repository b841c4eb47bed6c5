"""recam init-tiny + recam infer end to end on CPU, on upstream's real example videos (read from ../shared)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from recam.cameras import inference_cam_emb, preset_trajectory, trajectory_from_moves
from recam.cli import app
from synth.core.video_io import probe_video, read_video

run = CliRunner().invoke


@pytest.fixture
def pipe_calls(monkeypatch):
    """Every call of the pipeline during the test: the ``cam_emb`` it was given (numpy ``(F_latent, 12)``), its
    source video (``[F, H, W, 3]`` uint8) and the frames it returned (``[F, H, W, 3]`` uint8)."""
    from recam.pipeline import ReCamMasterPipeline

    calls = []
    original = ReCamMasterPipeline.__call__

    def spy(self, video=None, prompt=None, cam_emb=None, *args, **kwargs):
        out = original(self, video, prompt, cam_emb, *args, **kwargs)
        src = ((video[0].permute(1, 2, 3, 0).float().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        calls.append({"cam_emb": cam_emb.detach().cpu().numpy().reshape(-1, 12), "video": src,
                      "frames": np.asarray(out.frames[0])})
        return out

    monkeypatch.setattr(ReCamMasterPipeline, "__call__", spy)
    return calls


def _moves(cam_emb: np.ndarray) -> bool:
    """The ``cam_emb`` differs from a static camera's (so comparing with it can catch a static camera)."""
    static = inference_cam_emb(np.repeat(np.eye(4)[None], 4 * (len(cam_emb) - 1) + 1, axis=0))
    return float(np.abs(cam_emb - static).max()) > 0.05


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def _check_written(calls, results, names, width):
    """Each written video decodes to the frames the pipeline returned, and its side-by-side to (source | result).

    The tiny model's frames are noise-like (std ~28 grey levels), which x264 at crf 18 keeps to ~10-13 levels of
    mean absolute error (measured); the same frames in reverse order are ~28 away, the source ~55-65."""
    assert len(calls) == len(names)
    for call, name in zip(calls, names):
        out, _ = read_video(results / f"{name}.mp4")
        sbs, _ = read_video(results / f"{name}_side_by_side.mp4")
        assert out.shape == call["frames"].shape
        err = _mean_abs(out, call["frames"])
        assert err < 16, f"{name}.mp4 differs from the pipeline's frames by {err:.1f} grey levels on average"
        assert err < 0.75 * _mean_abs(out, call["frames"][::-1])  # frame order kept
        assert _mean_abs(sbs[:, :, :width], call["video"]) < 6  # natural video: ~3 levels
        assert _mean_abs(sbs[:, :, width:], call["frames"]) < 16
        assert _mean_abs(out, call["video"]) > 2.5 * err  # a result, not a copy of the source


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny") / "model"
    r = run(app, ["init-tiny", str(d)])
    assert r.exit_code == 0, r.output
    return d


def test_infer_cam_type_9_on_example_videos(tiny, example, tmp_path, pipe_calls):
    r = run(app, ["infer", "--model_dir", str(tiny), "--ckpt", str(tiny / "recammaster_tiny.ckpt"), "--cam_type", "9",
                  "--dataset_path", str(example), "--num_frames", "17", "--height", "64", "--width", "112",
                  "--steps", "2", "--out", str(tmp_path / "results"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    for name in ("4", "7"):
        info = probe_video(tmp_path / f"results/cam_type9/{name}.mp4")
        assert (info.frames, info.width, info.height, info.fps) == (17, 112, 64, 30.0)
        sbs = probe_video(tmp_path / f"results/cam_type9/{name}_side_by_side.mp4")
        assert (sbs.width, sbs.height) == (224, 64)
    # the left half of the side-by-side is the (resized, centre-cropped) source
    frames, _ = read_video(tmp_path / "results/cam_type9/4_side_by_side.mp4", 1)
    assert frames[0, :, :112].std() > 10
    # the pipeline got the requested camera (preset 9) for every video, and the files hold what it returned
    want = inference_cam_emb(preset_trajectory(9, 17))
    assert len(pipe_calls) == 2 and _moves(want)
    for call in pipe_calls:
        np.testing.assert_allclose(call["cam_emb"], want, atol=1e-6)
    _check_written(pipe_calls, tmp_path / "results/cam_type9", ("4", "7"), 112)


def test_infer_custom_trajectory_and_single_video(tiny, example, tmp_path, pipe_calls):
    traj = tmp_path / "orbit.yaml"
    traj.write_text("segments:\n  - {arc: {deg: 20, distance: 3}, tilt: -5}\n")
    r = run(app, ["infer", "--model_dir", str(tiny), "--trajectory", str(traj), "--video",
                  str(example / "videos/7.mp4"), "--prompt", "a man reads a paper", "--num_frames", "9",
                  "--height", "32", "--width", "48", "--steps", "1", "--guidance", "1", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    assert "camera modules are zero/identity" in r.output
    assert probe_video(tmp_path / "r/orbit/7.mp4").frames == 9
    want = inference_cam_emb(trajectory_from_moves(traj, 9))
    assert len(pipe_calls) == 1 and _moves(want)
    np.testing.assert_allclose(pipe_calls[0]["cam_emb"], want, atol=1e-6)
    _check_written(pipe_calls, tmp_path / "r/orbit", ("7",), 48)


@pytest.mark.parametrize("args,needle", [
    (["--num_frames", "105"], "needs 105 frames"),            # 4.mp4 has 102 frames
    (["--num_frames", "80"], "4k + 1"),
    (["--height", "100"], "multiples of 16"),
])
def test_infer_bad_input(tiny, example, tmp_path, args, needle):
    base = ["infer", "--model_dir", str(tiny), "--cam_type", "1", "--video", str(example / "videos/4.mp4"),
            "--prompt", "x", "--steps", "1", "--out", str(tmp_path / "r")]
    r = run(app, base + args)
    assert r.exit_code == 2 and needle in " ".join(r.output.split()), r.output
    assert not (tmp_path / "r").exists()


def test_infer_missing_weights(tmp_path, example):
    r = run(app, ["infer", "--model_dir", str(tmp_path / "nope"), "--cam_type", "1", "--video",
                  str(example / "videos/4.mp4"), "--prompt", "x"])
    assert r.exit_code == 2 and "Nothing is downloaded" in " ".join(r.output.split())


@pytest.mark.slow  # renders a scene, then runs the model on it
def test_readme_demo_on_synth_render_output(tiny, tmp_path):
    """README's end-to-end demo: a video rendered by `synth render`, re-captured with `recam infer --cam_type 9`."""
    from synth.cli import app as synth_app

    data = tmp_path / "demo"
    r = run(synth_app, ["render", "--scenes", "1", "--width", "160", "--height", "160", "--frames", "17",
                        "--out", str(data)])
    assert r.exit_code == 0, r.output
    video = next(data.glob("train/*/scene0/videos/cam01.mp4"))
    caption = (data / "metadata.csv").read_text().splitlines()[1].split(",", 1)[1].strip('"')
    r = run(app, ["infer", "--model_dir", str(tiny), "--ckpt", str(tiny / "recammaster_tiny.ckpt"), "--cam_type", "9",
                  "--video", str(video), "--prompt", caption, "--num_frames", "17", "--height", "64", "--width",
                  "64", "--steps", "2", "--out", str(tmp_path / "results")])
    assert r.exit_code == 0, r.output
    info = probe_video(tmp_path / "results/cam_type9/cam01.mp4")
    assert (info.frames, info.fps, info.width) == (17, 15.0, 64)


def test_infer_missing_model_dir_says_so(tmp_path, example):
    """A --model-dir that does not exist is named as such (not as a folder without tokenizer/)."""
    r = run(app, ["infer", "--model-dir", str(tmp_path / "nope"), "--cam-type", "1", "--video",
                  str(example / "videos/4.mp4"), "--prompt", "x", "--num-frames", "9", "--height", "32", "--width",
                  "32", "--out", str(tmp_path / "r")])
    text = " ".join(r.output.split())
    assert r.exit_code == 2 and f"--model-dir {tmp_path / 'nope'}: does not exist" in text, r.output
    assert "tokenizer/ folder" not in text and "Nothing is downloaded" in text
