"""LoRA: ``recam train`` with ``model.lora`` exports the LoRA alone in peft format; ``recam infer --lora`` loads it
and gives the output of the merged weights (W + alpha / r * B A, computed here by hand); original-Wan key layouts
load the same; bad ``--lora`` files are refused with the file named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, safe_open, save_file
from typer.testing import CliRunner

from recam.cli import app
from recam.infer import InferSettings, _fast_options, _pipeline
from recam.lora import LoraSpec, load_loras, parse_lora_spec
from recam.train.config import load_train_config
from recam.train.run import train

REPO = Path(__file__).resolve().parents[1]
run = CliRunner().invoke
RANK, ALPHA = 4, 8.0


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny matmuls: one thread beats two contending ones (restored afterwards)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, _one_thread, tiny_demo):
    """A tiny LoRA trained for 3 steps on a 2-scene synth dataset (9 frames, 64x64; the session's ``tiny_demo``,
    linked), exported."""
    wd = tmp_path_factory.mktemp("lora")
    for name in ("data", "tiny", "cache"):
        (wd / name).symlink_to(tiny_demo / name, target_is_directory=True)
    cfg = load_train_config(REPO / "configs/recam/tiny_cpu.yaml", [
        f"model.model_dir={wd}/tiny", f"model.init={wd}/tiny/recammaster_tiny.ckpt",
        f"data.datasets.0.cache={wd}/cache", f"output.dir={wd}/run", "trainer.max_steps=3",
        "trainer.checkpoint_every=3", "trainer.val_every=1000", "data.val_samples=0", "optim.lr=5e-2",
        "optim.warmup_steps=0", "output.export_diffusers=false", "model.trainable=[cam_encoder,projector]",
        f"model.lora.rank={RANK}", f"model.lora.alpha={ALPHA}"])
    train(cfg, resume="never")
    return wd


def _settings(wd: Path, lora=()):
    video = next((wd / "data").glob("train/*/scene0/videos/cam02.mp4"))
    return InferSettings(model_dir=wd / "tiny", ckpt=wd / "run/export/step3.ckpt", cam_type=3, video=video,
                         prompt="a person", num_frames=9, height=64, width=64, steps=3, device="cpu",
                         lora=[str(p) for p in lora])


def _latents(pipe, cam_frames: int = 3):
    g = torch.Generator().manual_seed(5)
    video = torch.rand(1, 3, 9, 64, 64, generator=g) * 2 - 1
    cam = 0.2 * torch.randn(cam_frames, 12, generator=g)
    return pipe(video, "a person walks", cam, num_inference_steps=3, guidance_scale=3.0, output_type="latent").frames


def _transformer(wd: Path):
    """The exported transformer (step3.ckpt), as recam infer loads it."""
    from recam.convert import official_from_config
    from recam.model import ReCamMasterTransformer3DModel as M

    cfg = M.load_config(str(wd / "tiny/transformer"), local_files_only=True)
    return M.from_official(wd / "run/export/step3.ckpt", config=official_from_config(cfg)).eval()


def _forward(transformer):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1, 16, 4, 8, 8, generator=g)
    with torch.no_grad():
        return transformer(x, torch.tensor([700.0]), torch.randn(1, 8, 32, generator=g),
                           0.2 * torch.randn(1, 2, 12, generator=g)).sample


def _merged_pipeline(wd: Path, lora_file: Path):
    """The exported model with W += (alpha / r) B A on every LoRA target, by hand (no peft)."""
    pipe = _pipeline(_settings(wd), torch.float32, lambda m: None)
    sd = load_file(str(lora_file))
    params = dict(pipe.transformer.named_parameters())
    with torch.no_grad():
        for k, a in sd.items():
            if ".lora_A." in k:
                b = sd[k.replace(".lora_A.", ".lora_B.")]
                name = k[len("transformer."):].replace(".lora_A.weight", ".weight")
                params[name] += (ALPHA / RANK) * b @ a
    return pipe


@pytest.mark.slow  # the trained fixture renders, prepares and trains
def test_exported_lora_is_peft_format_and_trained(trained):
    f = trained / "run/export/step3-lora/pytorch_lora_weights.safetensors"
    sd = load_file(str(f))
    assert sd and all(k.startswith("transformer.blocks.") and (".lora_A." in k or ".lora_B." in k) for k in sd)
    assert {k.split(".attn1.")[1].split(".lora")[0] for k in sd} == {"to_q", "to_k", "to_v", "to_out.0"}
    assert any(float(v.abs().max()) > 0 for k, v in sd.items() if ".lora_B." in k)  # trained (B starts at zero)
    with safe_open(str(f), "pt") as h:
        assert '"transformer.r": 4' in h.metadata()["lora_adapter_metadata"]
    ckpt = torch.load(trained / "run/export/step3.ckpt", weights_only=True)
    assert not any("lora" in k or "base_layer" in k for k in ckpt)  # the model without the LoRA


@pytest.mark.slow  # the trained fixture renders, prepares and trains
def test_infer_with_lora_equals_merged_weights(trained):
    lora = trained / "run/export/step3-lora"
    s = _settings(trained, [lora])
    pipe = _pipeline(s, torch.float32, lambda m: None)
    plain = _latents(pipe)
    _fast_options(pipe, s, lambda m: None)  # what recam infer does with --lora
    with_lora = _latents(pipe)
    merged = _latents(_merged_pipeline(trained, lora / "pytorch_lora_weights.safetensors"))
    assert torch.allclose(with_lora, merged, atol=1e-5, rtol=0), float((with_lora - merged).abs().max())
    assert float((with_lora - plain).abs().max()) > 1e-3  # the LoRA matters (the comparison can fail)


@pytest.mark.slow  # the trained fixture renders, prepares and trains
def test_original_wan_key_layout_loads_the_same(trained, tmp_path):
    """Step-distilled Wan2.1 LoRAs ship original-Wan names (``diffusion_model.blocks.N.self_attn.q.lora_down``);
    diffusers converts them: the same weights in that layout give the same adapter output."""
    sd = load_file(str(trained / "run/export/step3-lora/pytorch_lora_weights.safetensors"))
    names = {"to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "o"}
    orig = {}
    for k, v in sd.items():
        block, rest = k[len("transformer.blocks."):].split(".attn1.")
        mod, kind = rest.rsplit(".lora_", 1)
        base = f"diffusion_model.blocks.{block}.self_attn.{names[mod]}"
        orig[f"{base}.lora_{'down' if kind.startswith('A') else 'up'}.weight"] = v
        orig[f"{base}.alpha"] = torch.tensor(ALPHA)
    save_file(orig, str(tmp_path / "wan_layout.safetensors"))
    a, b = _transformer(trained), _transformer(trained)
    load_loras(a, [LoraSpec(trained / "run/export/step3-lora")])
    load_loras(b, [LoraSpec(tmp_path / "wan_layout.safetensors")])
    assert torch.allclose(_forward(a), _forward(b), atol=1e-5)


@pytest.mark.slow  # the trained fixture renders, prepares and trains
def test_lora_scale_zero_is_the_plain_model(trained):
    t = _transformer(trained)
    plain = _forward(t)
    load_loras(t, [LoraSpec(trained / "run/export/step3-lora", 0.0)])
    assert torch.allclose(_forward(t), plain, atol=1e-6)
    t.set_adapters(["lora0"], [1.0])
    assert not torch.allclose(_forward(t), plain, atol=1e-4)


@pytest.mark.slow
def test_cli_infer_with_lora_and_cache(trained, tmp_path):
    s = _settings(trained)
    r = run(app, ["infer", "--model-dir", str(s.model_dir), "--ckpt", str(s.ckpt), "--cam-type", "3", "--video",
                  str(s.video), "--prompt", "a person", "--num-frames", "9", "--height", "64", "--width", "64",
                  "--steps", "2", "--device", "cpu", "--out", str(tmp_path / "res"),
                  "--lora", f"{trained / 'run/export/step3-lora'}:0.5", "--cache", "fbc:0.2"])
    assert r.exit_code == 0, r.output
    assert "LoRA" in r.output and "cache: fbc:0.2" in r.output
    assert len(list((tmp_path / "res/cam_type3").glob("*.mp4"))) == 2  # result + side by side
    r = run(app, ["infer", "--model-dir", str(s.model_dir), "--ckpt", str(s.ckpt), "--cam-type", "3", "--video",
                  str(s.video), "--prompt", "a person", "--num-frames", "9", "--height", "64", "--width", "64",
                  "--steps", "2", "--device", "cpu", "--out", str(tmp_path / "res2"), "--lora",
                  str(tmp_path / "missing.safetensors")])
    assert r.exit_code == 2 and "missing.safetensors" in r.output, r.output


def test_bad_lora_files_are_named(tmp_path):
    from recam.tiny import tiny_transformer

    (tmp_path / "x.bin").write_bytes(b"\0")
    with pytest.raises(ValueError, match="x.bin: expected a .safetensors"):
        load_loras(tiny_transformer(), [LoraSpec(tmp_path / "x.bin")])
    save_file({"transformer.nothing.lora_A.weight": torch.zeros(2, 2),
               "transformer.nothing.lora_B.weight": torch.zeros(2, 2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="other.safetensors"):
        load_loras(tiny_transformer(), [LoraSpec(tmp_path / "other.safetensors")])


@pytest.mark.parametrize("text, path, scale", [("a.safetensors", "a.safetensors", 1.0),
                                               ("dir/a.safetensors:0.5", "dir/a.safetensors", 0.5),
                                               ("C:/x/a.safetensors", "C:/x/a.safetensors", 1.0)])
def test_parse_lora_spec(text, path, scale):
    assert parse_lora_spec(text) == LoraSpec(Path(path), scale)


@pytest.mark.parametrize("overrides, match", [(["model.lora.targets=['blocks.(']"], "not a regular expression"),
                                              (["model.lora.rank=0"], "rank"),
                                              (["trainer.strategy=fsdp"], "not supported yet")])
def test_lora_config_is_checked(overrides, match):
    from synth.core.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        load_train_config(REPO / "configs/recam/tiny_cpu.yaml", ["model.lora.rank=4", *overrides])


def test_lora_config_pattern_is_the_alternation_of_targets():
    import re

    cfg = load_train_config(REPO / "configs/recam/tiny_cpu.yaml", ["model.lora.rank=4"]).model.lora
    assert re.fullmatch(cfg.pattern, "blocks.12.attn1.to_out.0") and not re.fullmatch(cfg.pattern,
                                                                                      "blocks.1.attn2.to_q")
