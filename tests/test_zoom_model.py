"""The optional intrinsics condition of the camera encoder (issue 24): golden parity unchanged with the option on,
exact whatever its weights when target and source share the lens, the condition matters once trained, and a tiny
training step on zoom data moves its weights off zero."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from recam.cameras import TrajectoryError, intrinsics_condition, zoom_intrinsics
from recam.model import ReCamMasterTransformer3DModel as Model
from recam.scheduler import TrainingSchedule, flow_matching_loss


def rel_l2(a, b):
    return float((a - b).norm() / b.norm())


@pytest.fixture(scope="module")
def official(golden):
    meta = json.loads((golden / "meta.json").read_text())
    return Model.from_official(golden / "dit_official.ckpt", config=meta["dit_config"]), meta


def test_golden_parity_with_the_option_on(official, golden):
    model, meta = official
    inp = load_file(golden / "dit_inputs.safetensors")
    exp = load_file(golden / "dit_expected.safetensors")
    x = torch.cat([inp["x_target"], inp["x_source"]], dim=2)
    with torch.no_grad():
        off = model(x, inp["timestep"], inp["context"], inp["cam_emb"]).sample
        model.enable_intrinsics_condition()
        assert model.has_intrinsics_condition and all(float(p.abs().max()) == 0 for p in model.intrinsics_parameters())
        same_lens = torch.from_numpy(intrinsics_condition(np.tile([0.9, 0.9, 0.5, 0.5], (inp["cam_emb"].shape[1], 1)),
                                                          np.tile([0.9, 0.9, 0.5, 0.5], (inp["cam_emb"].shape[1], 1))))
        zeros = same_lens[None].expand(inp["cam_emb"].shape[0], -1, -1)
        # bias-free: equal lenses are exact whatever the weights (zero-initialised ones included, checked above)
        for p in model.intrinsics_parameters():
            p.normal_(0, 0.5)
        on = model(x, inp["timestep"], inp["context"], inp["cam_emb"], cam_intrinsics=zeros).sample
        assert torch.equal(on, off)  # bit-identical
        assert rel_l2(on, exp["out_full"]) <= 1e-5
        assert rel_l2(on[:, :, :meta["target_frames"]], exp["out_target"]) <= 1e-5
        # (that a zoom changes the output: the training step below, whose loss has a gradient on these weights)
        for p in model.intrinsics_parameters():
            p.zero_()
        with pytest.raises(ValueError, match="cam_intrinsics must be"):
            model(x, inp["timestep"], inp["context"], inp["cam_emb"], cam_intrinsics=zeros[:, :1])


def test_state_dict_keeps_the_intrinsics_weights(tmp_path):
    from recam.tiny import tiny_transformer

    m = tiny_transformer(seed=1)
    base = set(m.state_dict())
    m.enable_intrinsics_condition()
    extra = set(m.state_dict()) - base
    assert extra and all("cam_intrinsics_encoder.weight" in k for k in extra)
    assert len(extra) == len(m.blocks)
    for p in m.intrinsics_parameters():
        torch.nn.init.normal_(p)
    other = tiny_transformer(seed=1).enable_intrinsics_condition()
    other.load_state_dict(m.state_dict(), strict=True)  # a checkpoint of the option loads into the option
    assert all(torch.equal(a, b) for a, b in zip(m.intrinsics_parameters(), other.intrinsics_parameters()))
    with pytest.raises(RuntimeError, match="cam_intrinsics_encoder"):  # and is refused without it, not dropped
        tiny_transformer(seed=1).load_state_dict(m.state_dict(), strict=True)
    # export in upstream's container keeps them, and loading it turns the option on; without it, nothing changes
    from recam.convert import official_from_config, save_official

    cfg = official_from_config(dict(m.config))
    back = Model.from_official(save_official(m, tmp_path / "with.ckpt"), config=cfg)
    assert back.has_intrinsics_condition
    assert all(torch.equal(a, b) for a, b in zip(m.intrinsics_parameters(), back.intrinsics_parameters()))
    plain = tiny_transformer(seed=1)
    ref = torch.load(save_official(plain, tmp_path / "plain.ckpt"), weights_only=True)
    assert not any("intrinsics" in k for k in ref)
    assert not Model.from_official(tmp_path / "plain.ckpt", config=cfg).has_intrinsics_condition


def test_tiny_training_step_on_zoom_data_moves_the_intrinsics_weights():
    from recam.tiny import tiny_transformer

    torch.manual_seed(0)
    m = tiny_transformer(seed=2).enable_intrinsics_condition()
    m.requires_grad_(False)
    params = list(m.intrinsics_parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.0)
    cfg = m.config
    f_lat = 3
    lat = torch.randn(1, cfg.in_channels, 2 * f_lat, 4, 4)
    noise = torch.randn_like(lat)
    ctx = torch.randn(1, 8, cfg.text_dim)
    cam = torch.zeros(1, f_lat, 12)
    cam[..., [0, 5, 10]] = 1.0
    k_src = np.tile([0.9, 0.9, 0.5, 0.5], (f_lat, 1))
    k_tgt = k_src * np.array([[1.0], [1.5], [2.0]]) ** np.array([1, 1, 0, 0])  # a zoom in along the clip
    intr = torch.from_numpy(intrinsics_condition(k_tgt, k_src))[None]
    assert intr[0, 0].abs().max() == 0 and intr[0, 2, 0] == pytest.approx(np.log(2.0))
    sched = TrainingSchedule.create()
    loss = flow_matching_loss(m, lat, noise, torch.tensor([300]), sched, ctx, cam, f_lat, cam_intrinsics=intr)
    loss.backward()
    opt.step()
    moved = max(float(p.abs().max()) for p in params)
    assert moved > 1e-4


def test_zoom_spec():
    r = zoom_intrinsics("1.0:2.0", 5)
    assert r[0] == 1.0 and r[-1] == pytest.approx(2.0) and np.allclose(r[1:] / r[:-1], 2 ** 0.25)
    for bad in ("2", "a:b", "0:2", "1:20"):
        with pytest.raises(TrajectoryError, match="--zoom"):
            zoom_intrinsics(bad, 5)


@pytest.mark.slow
def test_infer_zoom_end_to_end(tmp_path, example):
    """``recam infer --zoom 1.0:2.0``: refused (exit 2) with weights that lack the condition; with an exported
    checkpoint that has it, the run's result differs from the same run without --zoom (the ratios reach the model)."""
    from typer.testing import CliRunner

    from recam.cli import app
    from recam.convert import official_from_config, save_official
    from recam.tiny import tiny_transformer
    from synth.core.video_io import read_video

    run = CliRunner().invoke
    tiny = tmp_path / "model"
    assert run(app, ["init-tiny", str(tiny)]).exit_code == 0
    base = ["infer", "--model_dir", str(tiny), "--cam_type", "1", "--video", str(example / "videos/7.mp4"),
            "--prompt", "a man", "--num_frames", "9", "--height", "32", "--width", "48", "--steps", "1",
            "--guidance", "1", "--device", "cpu"]
    r = run(app, base + ["--ckpt", str(tiny / "recammaster_tiny.ckpt"), "--zoom", "1.0:2.0", "--out",
                         str(tmp_path / "no")])
    assert r.exit_code == 2 and "no intrinsics condition" in " ".join(r.output.split())
    r = run(app, base + ["--zoom", "1:99", "--out", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "--zoom" in r.output
    cfg = official_from_config(dict(tiny_transformer().config))
    m = Model.from_official(tiny / "recammaster_tiny.ckpt", config=cfg).enable_intrinsics_condition()
    with torch.no_grad():
        for p in m.intrinsics_parameters():
            p.normal_(0, 1.0)
    ckpt = save_official(m, tmp_path / "zoom.ckpt")
    outs = []
    for extra, out in (([], "plain"), (["--zoom", "1.0:2.0"], "zoom")):
        r = run(app, base + ["--ckpt", str(ckpt), "--out", str(tmp_path / out)] + extra)
        assert r.exit_code == 0, r.output
        outs.append(read_video(next((tmp_path / out).rglob("7.mp4")), 9)[0].astype(float))
    assert np.abs(outs[0] - outs[1]).mean() > 0.5


def test_trajectory_json_zoom_from_its_intrinsics_file(tmp_path):
    from recam.cameras import trajectory_zoom
    from synth.core.multicam_format import write_camera_intrinsics

    f = 24.0 * 2.0 ** np.linspace(0, 1, 81)
    write_camera_intrinsics(tmp_path / "camera_intrinsics.json", {"cam01": f, "cam02": np.full(81, 35.0)}, 23.76,
                            64, 64)
    traj = tmp_path / "camera_extrinsics.json"
    r = trajectory_zoom(traj, 9, "cam01")
    assert r[0] == 1.0 and r[-1] == pytest.approx(2.0, rel=1e-6) and np.all(np.diff(r) > 0)
    assert trajectory_zoom(traj, 9, "cam02") is None and trajectory_zoom(3, 9) is None
    assert trajectory_zoom(tmp_path / "orbit.yaml", 9) is None
    with pytest.raises(TrajectoryError, match="no camera 'cam07'"):
        trajectory_zoom(traj, 9, "cam07")


def test_collate_fills_the_intrinsics_condition():
    from recam.train.datamodule import collate

    a = {"sample_id": "a", "cam_emb": torch.zeros(3, 12), "cam_intr": torch.ones(3, 4)}
    b = {"sample_id": "b", "cam_emb": torch.zeros(3, 12)}
    for batch in (collate([a, b]), collate([b, a])):
        assert batch["cam_intr"].shape == (2, 3, 4) and batch["cam_intr"].sum() == 12
    assert "cam_intr" not in collate([b, b])
