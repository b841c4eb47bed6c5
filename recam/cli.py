"""``recam``: ReCamMaster on Wan2.1 — inference, checkpoint conversion, tiny models, data preparation, training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from synth.core.progress import console

from .eval.flags import with_eval_flags

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ReCamMaster (camera-controlled video-to-video) on diffusers' Wan2.1.")


def _fail(msg: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(code)


@app.command()
def infer(
    model_dir: Path = typer.Option(..., "--model_dir", help="Local Wan2.1-T2V-1.3B in diffusers layout."),
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="ReCamMaster weights: upstream step*.ckpt or a "
                                        "diffusers transformer folder. Default: untrained camera modules."),
    cam_type: Optional[int] = typer.Option(None, "--cam_type", min=1, max=10, help="Preset trajectory 1..10."),
    trajectory: Optional[Path] = typer.Option(None, "--trajectory", help="camera_extrinsics.json or moves YAML."),
    camera: Optional[str] = typer.Option(None, "--camera", help="Camera of a multi-camera --trajectory JSON."),
    dataset_path: Optional[Path] = typer.Option(None, "--dataset_path", help="Folder with metadata.csv + videos/."),
    video: Optional[Path] = typer.Option(None, "--video", help="One source video (with --prompt)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Caption of --video."),
    out: Path = typer.Option(Path("results"), "--out", help="Output folder."),
    num_frames: int = typer.Option(81, "--num_frames", help="Frames (4k + 1)."),
    height: int = typer.Option(480, "--height"),
    width: int = typer.Option(832, "--width"),
    start_frame: int = typer.Option(0, "--start_frame", min=0),
    stride: int = typer.Option(1, "--stride", min=1, help="Take every N-th source frame."),
    steps: int = typer.Option(50, "--steps", min=1),
    guidance: float = typer.Option(5.0, "--guidance", help="CFG scale on the text (1 = off)."),
    seed: int = typer.Option(0, "--seed"),
    dtype: str = typer.Option("auto", "--dtype", help="auto | bf16 | fp16 | fp32."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    vae_tiling: bool = typer.Option(False, "--vae_tiling", help="Tiled VAE encode/decode (less memory)."),
    offload: str = typer.Option("none", "--offload", help="none | model (one component on the GPU at a time) | "
                                "group (one transformer block at a time) | sequential (layer by layer, least "
                                "memory). Outputs are identical."),
    cpu_offload: bool = typer.Option(False, "--cpu_offload", help="Same as --offload model (kept for old "
                                     "scripts)."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the repeated transformer blocks."),
    cp_ulysses: int = typer.Option(1, "--cp_ulysses", min=1, help="Context parallelism: Ulysses degree (run "
                                   "under torchrun with that many processes per group)."),
    cp_ring: int = typer.Option(1, "--cp_ring", min=1, help="Context parallelism: ring degree (needs "
                                "--attention_backend flash or _native_cudnn)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results of an earlier run."),
    attention_backend: Optional[str] = typer.Option(None, "--attention_backend", help="diffusers attention "
                                                    "backend (e.g. native, flash, _native_cudnn)."),
) -> None:
    """Re-capture videos along a new camera trajectory (upstream: --cam_type 1..10 --dataset_path DIR)."""
    import os

    import torch

    from synth.core.video_io import VideoReadError

    from .cameras import PRESET_NAMES, TrajectoryError, latent_frame_indices, load_trajectory
    from .infer import (OFFLOAD_MODES, InferJob, OutputExistsError, check_outputs, jobs_from_dataset, load_jobs,
                        output_dir_name, place_pipeline, resolve_device_dtype, run_inference, unique_job_names)
    from .infer import check_infer_request, check_output_room
    from .pipeline import ReCamMasterPipeline

    if (cam_type is None) == (trajectory is None):
        _fail("give exactly one of --cam_type 1..10 or --trajectory FILE")
    if (dataset_path is None) == (video is None):
        _fail("give exactly one of --dataset_path DIR or --video FILE (with --prompt)")
    if video is not None and not prompt:
        _fail("--video needs --prompt (the caption of the source video)")
    if height % 16 or width % 16:
        _fail(f"--height and --width must be multiples of 16, got {height}x{width}")
    if cpu_offload:
        offload = "model"
    if offload not in OFFLOAD_MODES:
        _fail(f"--offload must be one of {', '.join(OFFLOAD_MODES)}; got {offload!r}")
    cp = cp_ulysses * cp_ring
    if cp > 1 and offload != "none":
        _fail("--cp_ulysses / --cp_ring cannot be combined with --offload (each rank holds the whole model)")
    if cp_ring > 1 and attention_backend in (None, "native"):
        _fail("--cp_ring > 1 needs --attention_backend flash or _native_cudnn (ring attention needs the "
              "log-sum-exp, which the native backend does not return)")
    try:
        check_infer_request(height=height, width=width, num_frames=num_frames, steps=steps, guidance=guidance)
        latent_frame_indices(num_frames)
        traj = load_trajectory(cam_type if cam_type is not None else trajectory, num_frames, camera)
        name = output_dir_name(cam_type, trajectory, camera)
        jobs = unique_job_names(jobs_from_dataset(dataset_path) if dataset_path else
                                [InferJob(video.stem, video, prompt)])
        check_outputs(jobs, out / name, overwrite)
        check_output_room(out / name, jobs, num_frames=num_frames, height=height, width=width)
        dev, dt = resolve_device_dtype(device, dtype)
        loaded = load_jobs(jobs, num_frames=num_frames, height=height, width=width, start_frame=start_frame,
                           stride=stride)
    except (ValueError, TrajectoryError, FileNotFoundError, VideoReadError, OutputExistsError) as e:
        _fail(escape(str(e)))
    rank = 0
    if cp > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            if "RANK" not in os.environ:
                _fail(f"--cp_ulysses {cp_ulysses} --cp_ring {cp_ring}: run under torchrun with a multiple of "
                      f"{cp} processes (torchrun --nproc_per_node {cp} -m recam.cli infer ...)")
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        rank = dist.get_rank()
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if cam_type is not None:
        console.print(f"trajectory {cam_type}: {PRESET_NAMES[cam_type]}")
    try:
        pipe = ReCamMasterPipeline.from_wan(model_dir, ckpt, torch_dtype=dt)
    except (FileNotFoundError, ValueError, OSError) as e:
        _fail(escape(str(e)))
    if ckpt is None:
        console.print("[yellow]warning:[/yellow] no --ckpt: camera modules are zero/identity (base Wan2.1, "
                      "not trained to follow cameras)")
    if attention_backend:
        pipe.transformer.set_attention_backend(attention_backend)
    if cp > 1:
        try:
            pipe.transformer.enable_context_parallel(cp_ulysses, cp_ring)
        except (ValueError, RuntimeError) as e:
            _fail(escape(str(e)))
    place_pipeline(pipe, dev, offload, vae_tiling=vae_tiling, compile=compile)
    written = run_inference(pipe, loaded, traj, out / name, steps=steps, guidance=guidance, seed=seed,
                            log=console.print, write=rank == 0)
    if rank == 0:
        console.print(f"wrote {len(written)} video(s) to [bold]{(out / name).resolve()}[/bold]")


@app.command("init-tiny")
def init_tiny(out: Path = typer.Argument(..., help="Folder to create."),
              seed: int = typer.Option(0, help="Random seed of the weights.")) -> None:
    """Write a tiny random-weight Wan2.1 + ReCamMaster model folder (built in code, no downloads)."""
    from .tiny import build_tiny_model_dir

    build_tiny_model_dir(out, seed)
    console.print(f"tiny model: [bold]{out.resolve()}[/bold] (diffusers layout + recammaster_tiny.ckpt)")


@app.command()
def convert(
    src: Path = typer.Argument(..., help="upstream .ckpt / Wan DiT .safetensors, or a diffusers transformer folder."),
    dst: Path = typer.Argument(..., help="Output: a folder (diffusers) or a .ckpt file (upstream)."),
    to: str = typer.Option(..., "--to", help="diffusers | official"),
    config: Optional[Path] = typer.Option(None, "--config", help="JSON of upstream WanModel kwargs for an "
                                          "upstream checkpoint (default Wan2.1-T2V-1.3B)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="Cast to bf16 | fp16 | fp32 (default: keep)."),
) -> None:
    """Convert ReCamMaster DiT weights between upstream's format (step*.ckpt) and diffusers' both ways."""
    import torch

    from .convert import save_official
    from .model import ReCamMasterTransformer3DModel

    dt = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(dtype, "bad")
    if dt == "bad":
        _fail(f"--dtype must be bf16, fp16 or fp32, got {dtype!r}")
    try:
        if to == "diffusers":
            cfg = json.loads(config.read_text()) if config else None
            model = ReCamMasterTransformer3DModel.from_official(src, config=cfg, torch_dtype=dt)
            model.save_pretrained(str(dst))
        elif to == "official":
            model = ReCamMasterTransformer3DModel.from_pretrained(str(src), torch_dtype=dt)
            save_official(model, dst)
        else:
            _fail(f"--to must be diffusers or official, got {to!r}")
    except (FileNotFoundError, ValueError, OSError) as e:
        _fail(escape(str(e)))
    n = sum(p.numel() for p in model.parameters())
    console.print(f"wrote {dst} ({n / 1e6:.1f} M parameters)")


def _kinds_help() -> str:
    from .data.formats import kinds  # the registry: one module per kind in recam/data/formats/

    return " | ".join(kinds())


@app.command()
def prepare(
    dataset: Path = typer.Option(..., "--dataset", help="Dataset root."),
    kind: str = typer.Option(..., "--kind", help=f"Dataset kind: {_kinds_help()}"),
    model_dir: Path = typer.Option(..., "--model_dir", help="Local Wan2.1 diffusers folder (VAE, text encoder)."),
    out: Path = typer.Option(..., "--out", help="Cache folder."),
    config: Optional[Path] = typer.Option(None, "--config", help="Train config YAML: frames and size from its "
                                          "data section."),
    num_frames: Optional[int] = typer.Option(None, "--num_frames", help="Frames per window (4k + 1)."),
    height: Optional[int] = typer.Option(None, "--height"),
    width: Optional[int] = typer.Option(None, "--width"),
    stride: Optional[int] = typer.Option(None, "--stride", help="Source frame stride within a window."),
    index: Optional[str] = typer.Option(None, "--index", help="RealCam-Vid metadata npz (relative to --dataset)."),
    caption: str = typer.Option("long", "--caption", help="RealCam-Vid caption: long | short."),
    require_metric: bool = typer.Option(False, "--require-metric", help="Skip clips without a metric scale."),
    cache_dtype: str = typer.Option("bf16", "--cache_dtype", help="bf16 | fp16 | fp32"),
    shard: Optional[str] = typer.Option(None, "--shard", help="i/n: this machine's share of the clips (cluster "
                                        "arrays); ranks of a torchrun / --devices launch split it further."),
    devices: int = typer.Option(1, "--devices", min=1, help="Processes on this node (one per GPU), as "
                                "`torchrun --nproc_per_node N -m recam.cli prepare ...` would start."),
    workers: int = typer.Option(2, "--workers", min=0, help="DataLoader workers decoding ahead of the encoders "
                                "(0: decode in the main process)."),
    prefetch: int = typer.Option(2, "--prefetch", min=1, help="Clips each worker decodes ahead."),
    batch_text: int = typer.Option(8, "--batch_text", min=1, help="Captions per text-encoder call."),
    resize: str = typer.Option("exact", "--resize", help="exact (upstream's PIL bilinear) | fast (swscale inside "
                               "the decoder; pixels differ by a few levels)"),
    vae_dtype: str = typer.Option("fp32", "--vae_dtype", help="fp32 | bf16 (GPU: half the memory and time)"),
    device: str = typer.Option("auto", "--device"),
    vae_tiling: bool = typer.Option(False, "--vae_tiling", help="Upstream's tiled VAE encoding (less memory)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace items cached with other settings."),
) -> None:
    """Cache normalised VAE latents and text embeddings per clip window (pipelined, resumable, shardable)."""
    from synth.core.multicam_format import DatasetFormatError
    from synth.core.sharding import parse_shard

    from rich.markup import escape

    from .data.formats import kinds
    from .data.prepare import CacheSettingsError, PrepareSettings, dist_env, launch_local, prepare_dataset

    if kind not in kinds():
        _fail(f"--kind must be one of {', '.join(kinds())}; got {kind!r}")
    base = {"num_frames": 81, "height": 480, "width": 832, "stride": 1}
    if config is not None:
        from .train.config import ConfigError, load_train_config

        try:
            d = load_train_config(config).data
        except ConfigError as e:
            _fail(str(e))
        base.update(num_frames=d.num_frames, height=d.height, width=d.width, stride=d.stride)
    for k, v in {"num_frames": num_frames, "height": height, "width": width, "stride": stride}.items():
        if v is not None:
            base[k] = v
    if (base["num_frames"] - 1) % 4 or base["height"] % 16 or base["width"] % 16 or min(base.values()) < 1:
        _fail(f"frames must be 4k + 1 and height/width positive multiples of 16; got {base}")
    options = {"require_metric": require_metric}
    if kind == "realcam-vid":
        options.update(index=index, caption=caption)
    elif index is not None:
        _fail(f"--index is for --kind realcam-vid, not {kind}")
    try:
        settings = PrepareSettings(cache_dtype=cache_dtype, options=options, resize=resize, vae_dtype=vae_dtype,
                                   vae_tiling=vae_tiling, **base)
        sh = parse_shard(shard)
        rank, world, local = dist_env()
    except ValueError as e:
        _fail(str(e))
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} is a file; expected a cache folder")
    if device == "auto":
        import torch

        dev = f"cuda:{local}" if torch.cuda.is_available() and world > 1 else ("cuda" if torch.cuda.is_available()
                                                                               else "cpu")
    else:
        from .infer import resolve_device_dtype

        try:
            dev = str(resolve_device_dtype(device, "fp32")[0])
        except (ValueError, RuntimeError) as e:
            _fail(f"--device: {e}")
        if dev.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                _fail(f"--device {device}: CUDA is not available on this machine")
    kwargs = dict(shard=sh, device=dev, batch_text=batch_text, workers=workers, prefetch=prefetch,
                  overwrite=overwrite)
    try:
        if devices > 1:
            if world > 1:
                _fail("--devices N starts its own ranks; under torchrun leave it at 1")
            console.print(f"prepare {kind}: {devices} processes on this node")
            reports = launch_local(devices, kind, dataset, model_dir, out, settings, log=console.print, **kwargs)
        else:
            reports = [prepare_dataset(kind, dataset, model_dir, out, settings, log=console.print, **kwargs)]
    except CacheSettingsError as e:
        _fail(str(e))
    except (ValueError, FileNotFoundError, DatasetFormatError) as e:
        _fail(str(e))
    except RuntimeError as e:  # a rank of --devices failed
        _fail(str(e), code=1)
    problems = list(dict.fromkeys(p for r in reports for p in r.problems))
    for p in problems[:50]:
        console.print(f"[yellow]broken[/yellow] {escape(str(p))}", highlight=False)
    if len(problems) > 50:
        console.print(f"... {len(problems) - 50} more (all in {out / kind}/problems.json)")
    console.print(f"{sum(r.written for r in reports)} written, {sum(r.skipped for r in reports)} already cached, "
                  f"{len(problems)} broken ({max(r.seconds for r in reports):.1f} s); cache: "
                  f"[bold]{out.resolve()}[/bold]")


@app.command()
def align(
    metric_depth: Path = typer.Option(..., "--metric-depth", help="Folder of metric depth maps per frame."),
    relative_depth: Optional[Path] = typer.Option(None, "--relative-depth", help="Folder of relative depth maps."),
    colmap: Optional[Path] = typer.Option(None, "--colmap", help="COLMAP sparse model folder, text or binary (SfM points)."),
    out: Path = typer.Option(..., "--out", help="Scale file to write (the loaders read metric_scale.json beside "
                             "a clip's annotations)."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Dynamic masks (non-zero = moving), by frame stem."),
    first_only: bool = typer.Option(False, "--first-only", help="COLMAP: use the first frame only."),
    png_scale: float = typer.Option(0.001, "--png-scale", help="Metres per unit of 16-bit PNG depth."),
    exr_disparity: bool = typer.Option(False, "--exr-disparity", help="EXR maps hold disparity (1/depth)."),
) -> None:
    """Per-clip metric scale: median(metric depth / relative depth or SfM depth) over valid static samples."""
    from .data.align import scale_from_colmap, scale_from_relative_depth, summary_line, write_scale_file

    if (relative_depth is None) == (colmap is None):
        _fail("give exactly one of --relative-depth DIR or --colmap DIR")
    try:
        if relative_depth is not None:
            res = scale_from_relative_depth(metric_depth, relative_depth, masks, png_scale, exr_disparity)
        else:
            res = scale_from_colmap(metric_depth, colmap, masks, first_only, png_scale, exr_disparity)
    except ValueError as e:
        _fail(str(e))
    write_scale_file(out, res, {"metric_depth": str(metric_depth),
                                "relative": str(relative_depth or colmap)})
    console.print(summary_line(res))
    console.print(f"wrote {out}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def train(
    config: Path = typer.Option(..., "--config", help="Training config YAML (configs/recam/*.yaml)."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key.path=value overrides, e.g. trainer.devices=8"),
    resume: str = typer.Option("auto", "--resume", help="auto (last checkpoint of output.dir), never, or a path."),
) -> None:
    """Train ReCamMaster (Lightning): resumable, DDP / FSDP / DeepSpeed, bf16, exports in both formats."""
    from .train.config import ConfigError, load_train_config
    from .train.module import NonFiniteLossError
    from .train.run import train as run_train

    try:
        cfg = load_train_config(config, overrides or [])
    except ConfigError as e:
        _fail(escape(str(e)))
    try:
        trainer, module = run_train(cfg, resume)
    except NonFiniteLossError as e:
        _fail(str(e), code=3)
    except (FileNotFoundError, ValueError, ImportError) as e:
        _fail(escape(str(e)))
    if trainer.is_global_zero:
        console.print(f"trained to step {trainer.global_step} ({module.num_trainable():,} trainable parameters); "
                      f"outputs in [bold]{Path(cfg.output.dir).resolve()}[/bold]")


def eval_cmd(**flags) -> None:
    """Score re-capture on (source, target) camera pairs: PSNR/SSIM, RotErr/TransErr/CamMC, and LPIPS/CLIP/FVD
    with local weights.

    Flags: recam.eval.settings and each metric of recam.eval.metrics (recam.eval.flags)."""
    from synth.core.multicam_format import DatasetFormatError

    from .eval.run import run as run_eval
    from .eval.settings import EvalRunSettings

    try:
        run_eval(EvalRunSettings.from_flags(flags))
    except (ValueError, DatasetFormatError) as e:  # settings, metric weights, pairs, a resume into another run
        _fail(escape(str(e)))


app.command("eval")(with_eval_flags(eval_cmd))


def main(argv: Optional[List[str]] = None) -> None:  # pragma: no cover
    app(argv)


if __name__ == "__main__":  # pragma: no cover
    main()
