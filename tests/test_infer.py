"""recam init-tiny + recam infer end to end on CPU, on upstream's real example videos (read from ../shared)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from recam.cli import app
from synth.core.video_io import probe_video, read_video

run = CliRunner().invoke


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny") / "model"
    r = run(app, ["init-tiny", str(d)])
    assert r.exit_code == 0, r.output
    return d


def test_infer_cam_type_9_on_example_videos(tiny, example, tmp_path):
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


def test_infer_custom_trajectory_and_single_video(tiny, example, tmp_path):
    traj = tmp_path / "orbit.yaml"
    traj.write_text("segments:\n  - {arc: {deg: 20, distance: 3}, tilt: -5}\n")
    r = run(app, ["infer", "--model_dir", str(tiny), "--trajectory", str(traj), "--video",
                  str(example / "videos/7.mp4"), "--prompt", "a man reads a paper", "--num_frames", "9",
                  "--height", "32", "--width", "48", "--steps", "1", "--guidance", "1", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    assert "camera modules are zero/identity" in r.output
    assert probe_video(tmp_path / "r/orbit/7.mp4").frames == 9


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
