"""recam at scale, tested on the CPU: dtype contract of DeepSpeed / FSDP / bf16-true by emulation, lean camera
conditioning (kept activation bytes), context parallelism (2 gloo processes), pipeline reuse with precomputed
inputs, offloading and compile equality, config validation, resume from checkpoint folders, infer output names."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from recam.cli import app
from recam.tiny import TINY_TRANSFORMER, tiny_transformer

REPO = Path(__file__).resolve().parents[1]
run = CliRunner().invoke


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny") / "model"
    r = run(app, ["init-tiny", str(d)])
    assert r.exit_code == 0, r.output
    return d


def _cfg(tiny: Path, tmp: Path, *overrides: str):
    from recam.train.config import load_train_config

    return load_train_config(REPO / "configs/recam/tiny_cpu.yaml",
                             [f"model.model_dir={tiny}", f"model.init={tiny}/recammaster_tiny.ckpt",
                              f"data.datasets.0.cache={tmp}/cache", f"output.dir={tmp}/run", *overrides])


def _batch(f: int = 3, h: int = 8, w: int = 8, b: int = 1):
    g = torch.Generator().manual_seed(0)
    return {"latents": torch.randn(b, 16, 2 * f, h, w, generator=g), "context": torch.randn(b, 512, 32, generator=g),
            "cam_emb": torch.randn(b, f, 12, generator=g) * 0.3, "source_keep": torch.ones(b, f, dtype=torch.bool),
            "task": ["v2v"] * b, "sample_id": [f"s{i}" for i in range(b)]}


# ------------------------------------------------------------------------------------------------ dtype contract
@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_deepspeed_dtype_contract_by_emulation(tiny, tmp_path):
    """DeepSpeed (and FSDP with bf16 parameters, and Lightning's bf16-true) cast the module to bf16 and add no
    autocast: the loss, the validation loss and the validation videos must run, the loss in float32."""
    from recam.train.module import ReCamMasterModule
    from recam.train.run import ValidationVideos

    module = ReCamMasterModule(_cfg(tiny, tmp_path, "optim.ema.enabled=true"))
    module.to(torch.bfloat16)  # what DeepSpeedEngine / bf16-true do to the whole module; inputs stay float32
    batch = _batch()
    loss = module.compute_loss(batch, step=0)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in module.transformer.parameters() if p.requires_grad]
    assert all(g is not None and g.dtype == torch.bfloat16 for g in grads)
    val = module.validation_step(batch, 0)
    assert val.dtype == torch.float32 and torch.isfinite(val)
    # the validation-video callback, as every rank runs it (rank 0 writes)
    cb = ValidationVideos(tmp_path / "val", num_videos=1, steps=2, guidance=2.0)
    trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True, global_step=7, loggers=[],
                              datamodule=SimpleNamespace(val_dataloader=lambda: [batch]))
    cb.on_validation_epoch_end(trainer, module)
    assert (tmp_path / "val/step7/0.mp4").stat().st_size > 0
    # bf16-mixed: float32 parameters under CPU autocast
    module.to(torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = module.compute_loss(batch, step=0)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_model_casts_inputs_at_its_boundary():
    m = tiny_transformer(seed=0).eval()
    x, t, ctx, cam = torch.randn(1, 16, 2, 4, 4), torch.tensor([300.0]), torch.randn(1, 3, 32), torch.randn(1, 1, 12)
    with torch.no_grad():
        ref = m(x, t, ctx, cam).sample
        out = m.to(torch.bfloat16)(x, t, ctx, cam).sample  # float32 inputs into a bf16 model
    assert out.dtype == torch.bfloat16
    assert float((out.float() - ref).norm() / ref.norm()) < 0.05


# ------------------------------------------------------------------------------------------------ lean camera
def _bench_memory():
    spec = importlib.util.spec_from_file_location("bench_memory", REPO / "benchmarks/bench_memory.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_checkpointed_block_keeps_one_hidden_state_per_token():
    """With gradient checkpointing a block keeps its bf16 hidden-state input only (<= 1.25 x dim x 2 bytes per
    token): the camera conditioning is built inside the block, not kept at [B, L, dim] outside it."""
    bench = _bench_memory()
    cfg = {**TINY_TRANSFORMER, "attention_head_dim": 64}
    cfg.pop("num_layers")
    dim = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    kept = bench.per_token_per_block(cfg, checkpointing=True, sizes=((2, 4, 4), (2, 8, 8)))
    assert 0 < kept <= 1.25 * dim * 2, kept
    full = bench.per_token_per_block(cfg, checkpointing=False, sizes=((2, 4, 4), (2, 8, 8)))
    assert full > 4 * kept  # the measurement sees what a block keeps without checkpointing


def test_camera_acts_per_latent_frame_over_both_halves():
    """cam_emb frame k conditions the tokens of target frame k and of source frame k (upstream's tiling)."""
    m = tiny_transformer(seed=1)
    with torch.no_grad():
        for p in m.camera_parameters():
            p.add_(0.1 * torch.randn_like(p))
    blk = m.blocks[0]
    idx = m.token_frame_index(4, 3, 2, "cpu")
    assert idx.tolist() == [[0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1]]
    cam = torch.randn(1, 2, 12)
    full = blk.cam_encoder(cam).repeat(1, 2, 1).repeat_interleave(3, dim=1)  # the former [B, L, dim] tensor
    assert torch.equal(blk.cam_encoder(cam)[:, idx[0]], full)


# ------------------------------------------------------------------------------------------------ context parallel
@pytest.mark.slow
def test_context_parallel_ulysses_two_processes_equals_one(tmp_path):
    """diffusers' Ulysses context parallelism over 2 gloo processes: forward equal to one process, gradients of a
    training step (with gradient checkpointing) equal after summing over the group. Ring attention needs a
    backend returning the log-sum-exp (flash / cuDNN), which the CPU lacks: the GPU check runs it."""
    out = tmp_path / "cp.json"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(REPO / "tests/cp_worker.py"), str(out), "2", "1"], capture_output=True, text=True,
                       timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["world"] == 2 and res["grads_compared"] > 10
    assert res["out_max_abs_diff"] <= 1e-5 * max(1.0, res["out_max_abs"])
    assert res["grad_max_rel_diff"] <= 1e-5
    assert res["meshes_alive_at_teardown"] == 0  # the process groups die before the interpreter (see cp_worker.py)


def test_context_parallel_needs_distributed():
    with pytest.raises(RuntimeError, match="torchrun"):
        tiny_transformer(seed=0).enable_context_parallel(2, 1)


# ------------------------------------------------------------------------------------------------ pipeline
def _pipe(tiny):
    from recam.pipeline import ReCamMasterPipeline

    p = ReCamMasterPipeline.from_wan(tiny, tiny / "recammaster_tiny.ckpt", torch_dtype=torch.float32)
    p.set_progress_bar_config(disable=True)
    return p


def _video():
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, 3, 9, 32, 32, generator=g) * 2 - 1


def test_pipeline_precomputed_embeddings_and_latents_equal_text_and_video(tiny):
    pipe = _pipe(tiny)
    cam = torch.randn(3, 12) * 0.2
    ref = pipe(_video(), "a person walks", cam, num_inference_steps=2, guidance_scale=3.0, output_type="latent").frames
    pos, neg = pipe.encode_prompt(["a person walks"], negative_prompt=[pipe_default_negative()],
                                  do_classifier_free_guidance=True, max_sequence_length=512)
    out = pipe(source_latents=pipe.encode_source(_video()), prompt_embeds=pos, negative_prompt_embeds=neg,
               cam_emb=cam, num_inference_steps=2, guidance_scale=3.0, output_type="latent").frames
    assert float((out - ref).abs().max()) <= 1e-5 * float(ref.abs().max()), float((out - ref).abs().max())
    # a pipeline without text encoder (training's validation) needs the embeddings
    from recam.pipeline import ReCamMasterPipeline

    bare = ReCamMasterPipeline(tokenizer=None, text_encoder=None, vae=pipe.vae, scheduler=pipe.scheduler,
                               transformer=pipe.transformer)
    with pytest.raises(ValueError, match="no text encoder"):
        bare(source_latents=pipe.encode_source(_video()), prompt="x", cam_emb=cam)
    with pytest.raises(ValueError, match="exactly one of video or source_latents"):
        bare(prompt_embeds=pos, cam_emb=cam)


def pipe_default_negative():
    from recam.pipeline import DEFAULT_NEGATIVE_PROMPT

    return DEFAULT_NEGATIVE_PROMPT


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
@pytest.mark.parametrize("offload", ["model", "group", "sequential"])
def test_offload_output_identical(tiny, offload):
    from recam.infer import place_pipeline

    cam = torch.randn(3, 12) * 0.2
    ref_pipe = _pipe(tiny)
    place_pipeline(ref_pipe, torch.device("cpu"), "none", vae_tiling=True)
    ref = ref_pipe(_video(), "a person", cam, num_inference_steps=2, guidance_scale=2.0).frames[0]
    pipe = _pipe(tiny)
    place_pipeline(pipe, torch.device("cpu"), offload, vae_tiling=True)
    out = pipe(_video(), "a person", cam, num_inference_steps=2, guidance_scale=2.0).frames[0]
    assert np.array_equal(out, ref)


@pytest.mark.slow  # everyday loop (-m 'not slow') stays under 3 min on 2 cores
def test_compiled_blocks_equal_eager():
    """compile_repeated_blocks (what `compile: true` / `--compile` do): one graph for every block, no graph break
    (fullgraph), equal to eager. The aot_eager backend traces like inductor without the C++ build (slow here);
    the GPU check compiles with inductor."""
    torch._dynamo.reset()
    m = tiny_transformer(seed=2).eval()
    x, t, ctx, cam = torch.randn(1, 16, 4, 4, 4), torch.tensor([300.0]), torch.randn(1, 3, 32), torch.randn(1, 2, 12)
    with torch.no_grad():
        ref = m(x, t, ctx, cam).sample
        m.compile_repeated_blocks(fullgraph=True, backend="aot_eager")
        out = m(x, t, ctx, cam).sample
    assert float((out - ref).abs().max()) <= 1e-5
    torch._dynamo.reset()


# ------------------------------------------------------------------------------------------------ config
def test_config_precisions_overrides_and_impossible_combinations(tiny, tmp_path):
    from recam.train.config import ConfigError

    c = _cfg(tiny, tmp_path, "trainer.precision=bf16-true", "data.datasets.0.weight=0.5", "trainer.devices=2",
             "parallel.ulysses_degree=2")
    assert c.trainer.precision == "bf16-true" and c.data.datasets[0].weight == 0.5 and c.parallel.degree == 2
    assert _cfg(tiny, tmp_path, "trainer.precision=32").trainer.precision == "32"
    for o, needle in [("model.attention_backend=sage", "inference-only"),
                      ("model.attention_backend=nope", "unknown attention backend"),
                      ("parallel.ulysses_degree=2", "must divide"),
                      ("data.datasets.3.weight=1", "data.datasets.3.weight"),
                      ("trainer.strategy=deepspeed_stage_3", None)]:
        extra = ["optim.ema.enabled=true"] if "stage_3" in o else []
        with pytest.raises(ConfigError) as e:
            _cfg(tiny, tmp_path, o, *extra)
        assert needle is None or needle in " ".join(str(e.value).split()), str(e.value)
    with pytest.raises(ConfigError, match="log-sum-exp"):
        _cfg(tiny, tmp_path, "trainer.devices=2", "parallel.ring_degree=2")


def test_deepspeed_missing_names_the_extra(tiny, tmp_path):
    from recam.train.run import _strategy

    try:
        import deepspeed  # noqa: F401
        pytest.skip("deepspeed is installed")
    except ImportError:
        pass
    with pytest.raises(ImportError, match=r"extra `gpu`.*\.\[gpu\]"):
        _strategy(_cfg(tiny, tmp_path, "trainer.strategy=deepspeed_stage_2"))
    r = run(app, ["train", "--config", str(REPO / "configs/recam/tiny_cpu.yaml"), f"model.model_dir={tiny}",
                  "trainer.strategy=deepspeed_stage_1", f"output.dir={tmp_path}/r"])
    assert r.exit_code == 2 and "[gpu]" in r.output, r.output


def test_shipped_configs_validate():
    from recam.train.config import load_train_config

    for name in ("wan1.3b_multicam.yaml", "wan1.3b_mixed_real.yaml", "wan14b_multicam.yaml", "tiny_cpu.yaml"):
        cfg = load_train_config(REPO / "configs/recam" / name)
        assert cfg.optim.weight_decay == (0.0 if name == "tiny_cpu.yaml" else 0.01)


# ------------------------------------------------------------------------------------------------ resume
def test_resume_finds_checkpoint_folders(tmp_path):
    """DeepSpeed saves a folder (checkpoint/*model_states.pt, *optim_states.pt), sharded FSDP a DCP folder with
    .metadata written last; a folder cut short by a kill is skipped."""
    from recam.train.run import resolve_resume

    cfg = SimpleNamespace(output=SimpleNamespace(dir=str(tmp_path)))
    ck = tmp_path / "checkpoints"
    ds = ck / "step4.ckpt" / "checkpoint"
    ds.mkdir(parents=True)
    torch.save({"a": torch.zeros(1)}, ds / "mp_rank_00_model_states.pt")
    torch.save({"a": torch.zeros(1)}, ds / "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt")
    assert resolve_resume(cfg, "auto") == str(ck / "step4.ckpt")
    (ck / "last.ckpt" / "checkpoint").mkdir(parents=True)  # killed while writing: no complete model states
    (ck / "last.ckpt" / "checkpoint" / "mp_rank_00_model_states.pt").write_bytes(b"PK\x03\x04 cut")
    assert resolve_resume(cfg, "auto") == str(ck / "step4.ckpt")
    (ck / "step8.ckpt").mkdir()
    (ck / "step8.ckpt" / "__0_0.distcp").write_bytes(b"x")
    assert resolve_resume(cfg, "auto") == str(ck / "step4.ckpt")  # no .metadata yet
    (ck / "step8.ckpt" / ".metadata").write_bytes(b"x")
    assert resolve_resume(cfg, "auto") == str(ck / "step8.ckpt")


# ------------------------------------------------------------------------------------------------ infer outputs
def test_infer_output_names_unique(tmp_path):
    from recam.infer import InferJob, OutputExistsError, check_outputs, output_dir_name, unique_job_names

    assert output_dir_name(9) == "cam_type9"
    assert output_dir_name(None, Path("a/cams.json"), "cam09") != output_dir_name(None, Path("a/cams.json"), "cam01")
    jobs = unique_job_names([InferJob("cam01", Path("d/s0/videos/cam01.mp4"), "x"),
                             InferJob("cam01", Path("d/s1/videos/cam01.mp4"), "y"),
                             InferJob("cam02", Path("d/s1/videos/cam02.mp4"), "z")])
    assert [j.name for j in jobs] == ["s0_cam01", "s1_cam01", "cam02"]
    with pytest.raises(ValueError, match="twice"):
        unique_job_names([InferJob("a", Path("v/a.mp4"), "x"), InferJob("a", Path("v/a.mp4"), "x")])
    (tmp_path / "cam02.mp4").write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        check_outputs(jobs, tmp_path, overwrite=False)
    check_outputs(jobs, tmp_path, overwrite=True)


def test_infer_refuses_overwrite_and_missing_cuda(tiny, example, tmp_path):
    args = ["infer", "--model_dir", str(tiny), "--cam_type", "1", "--video", str(example / "videos/4.mp4"),
            "--prompt", "x", "--steps", "1", "--num_frames", "5", "--height", "32", "--width", "32",
            "--out", str(tmp_path / "r")]
    (tmp_path / "r/cam_type1").mkdir(parents=True)
    (tmp_path / "r/cam_type1/4.mp4").write_bytes(b"earlier result")
    r = run(app, args)
    assert r.exit_code == 2 and "--overwrite" in " ".join(r.output.split()), r.output
    assert (tmp_path / "r/cam_type1/4.mp4").read_bytes() == b"earlier result"
    if not torch.cuda.is_available():
        r = run(app, args + ["--overwrite", "--device", "cuda"])
        assert r.exit_code == 2 and "CUDA is not available" in " ".join(r.output.split()), r.output
    r = run(app, args + ["--offload", "disk"])
    assert r.exit_code == 2 and "--offload must be one of" in " ".join(r.output.split())


# ------------------------------------------------------------------------------------------------ GPU check script
@pytest.mark.slow
def test_gpu_check_dry_run_writes_one_json(tmp_path):
    """benchmarks/gpu_check.sh runs its code paths at tiny shapes on the CPU (--dry-run) and writes one JSON; without
    CUDA and without --dry-run it refuses with exit 2."""
    out = tmp_path / "g.json"
    r = subprocess.run(["bash", str(REPO / "benchmarks/gpu_check.sh"), "--dry-run", "--budget", "60", "--out",
                        str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert rep["ok"] and not rep["failed"] and rep["meta"]["dry_run"]
    names = [e["name"] for e in rep["results"]]
    assert any(n.startswith("train") for n in names) and any(n.startswith("infer") for n in names)
    assert all(e["ok"] for e in rep["results"])
    if not torch.cuda.is_available():
        r = subprocess.run(["bash", str(REPO / "benchmarks/gpu_check.sh"), "--out", str(tmp_path / "x.json")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "no CUDA" in r.stderr
