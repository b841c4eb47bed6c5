"""``recam``: ReCamMaster on Wan2.1 — inference, checkpoint conversion, tiny models, data preparation, training."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from synth.core.command_line import CONTEXT_SETTINGS, WithModelOptions, exits, given, settings_or_exit
from synth.core.command_line import fail as _fail
from synth.core.progress import console

from .infer_settings import InferSettings  # light (pydantic): flags are checked before torch loads

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings=CONTEXT_SETTINGS,
                  help="ReCamMaster (camera-controlled video-to-video) on diffusers' Wan2.1.")


def infer(**flags) -> None:
    """Re-capture videos along a new camera trajectory (upstream: --cam_type 1..10 --dataset_path DIR)."""
    settings = settings_or_exit(InferSettings, **flags)  # before torch and diffusers load: errors in well under 1 s
    from .infer import run

    with exits():
        run(settings, log=console.print)


app.command(context_settings=CONTEXT_SETTINGS)(WithModelOptions(infer, lambda: [(None, InferSettings, None)]))


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


def prepare(ctx: typer.Context, **flags) -> None:
    """Cache normalised VAE latents and text embeddings per clip window (pipelined, resumable, shardable)."""
    from .data.prepare_settings import PrepareRunSettings

    own = {k: v for k, v in flags.items() if k in PrepareRunSettings.model_fields}
    kind_flags = {k: v for k, v in flags.items() if k not in own and given(ctx, k)}
    settings = settings_or_exit(PrepareRunSettings, kind_flags=kind_flags, **own)
    from .data.prepare import run

    with exits():
        run(settings, log=console.print)


def _prepare_models():
    """``recam prepare``'s own flags (its settings model), then every dataset kind's typed reader options."""
    from .data.formats import get_kind, kinds
    from .data.prepare_settings import PrepareRunSettings

    return [(None, PrepareRunSettings, None),
            *((f"--kind {k}", get_kind(k).Options, None) for k in kinds() if get_kind(k).Options is not None)]


def _kind_option():
    """``--kind`` with the registered kinds in its help (the registry: one module per kind in recam/data/formats/)."""
    from .data.formats import kinds

    return {"kind": typer.Option(..., "--kind", help=f"Dataset kind: {' | '.join(kinds())}")}


app.command(context_settings=CONTEXT_SETTINGS)(WithModelOptions(prepare, _prepare_models, _kind_option))


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


@app.command("eval")
def eval_cmd(
    dataset: Path = typer.Option(..., "--dataset", help="Multi-camera dataset (synth output or MultiCamVideo)."),
    out: Path = typer.Option(Path("eval"), "--out", help="Output folder (resumable)."),
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", "--model_dir", help="Wan2.1 diffusers folder: "
                                             "re-capture with ReCamMaster."),
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="ReCamMaster weights (with --model_dir)."),
    videos: Optional[Path] = typer.Option(None, "--videos", help="Score already generated videos "
                                          "<pair_id>.mp4 of any model (with --pairs)."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="pairs.csv of an earlier run (same pairs)."),
    num_pairs: int = typer.Option(50, "--num-pairs", "--num_pairs", min=1, help="Pairs to sample (without --pairs)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the pair sampling and of the sampler."),
    num_frames: int = typer.Option(81, "--num-frames", "--num_frames", help="Frames (4k + 1)."),
    height: int = typer.Option(480, "--height"),
    width: int = typer.Option(832, "--width"),
    steps: int = typer.Option(50, "--steps", min=1),
    guidance: float = typer.Option(5.0, "--guidance"),
    dtype: str = typer.Option("auto", "--dtype", help="auto | bf16 | fp16 | fp32."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    pose_stride: int = typer.Option(4, "--pose-stride", min=1, help="Estimate poses on every N-th frame."),
    pose_max_size: int = typer.Option(512, "--pose-max-size", min=0, help="Downscale frames for COLMAP."),
    mapper: str = typer.Option("global", "--mapper", help="global (GLOMAP, as CamI2V) or incremental."),
    reference_poses: bool = typer.Option(True, "--reference-poses/--no-reference-poses",
                                         help="Also estimate poses on the true target video (estimator floor)."),
    lpips_weights: Optional[Path] = typer.Option(None, "--lpips-weights", help="Local LPIPS weights (optional)."),
    clip_model: Optional[Path] = typer.Option(None, "--clip-model", help="Local transformers CLIP folder: CLIP-V "
                                              "(source/result frame similarity) and CLIP-T (optional)."),
    fvd_i3d: Optional[Path] = typer.Option(None, "--fvd-i3d", help="Local TorchScript I3D (i3d_torchscript.pt, "
                                           "StyleGAN-V's): FVD of generated vs true target videos over all pairs "
                                           "(optional; nothing is downloaded)."),
) -> None:
    """Score re-capture on (source, target) camera pairs: PSNR/SSIM vs the true target video, RotErr/TransErr/
    CamMC of poses estimated from the result vs the requested trajectory."""
    from synth.core.multicam_format import DatasetFormatError
    from synth.core.progress import job_progress

    from .eval.run import EvalSettings, evaluate_pairs, read_pairs, sample_pairs

    if (model_dir is None) == (videos is None):
        _fail("give exactly one of --model_dir (generate with ReCamMaster) or --videos DIR (score existing videos)")
    if videos is not None and pairs is None:
        _fail("--videos needs --pairs FILE (pairs.csv naming the <pair_id>.mp4 files)")
    if videos is not None and not videos.is_dir():
        _fail(f"--videos {videos}: not a folder")
    if (num_frames - 1) % 4 or height % 16 or width % 16:
        _fail(f"--num_frames must be 4k + 1 and --height/--width multiples of 16; got {num_frames}, {height}x{width}")
    if mapper not in ("global", "incremental"):
        _fail(f"--mapper must be global or incremental, got {mapper!r}")
    fvd_model = None
    if fvd_i3d is not None:  # loaded first: a missing or invalid file stops the run before any work
        from .eval.fvd import load_i3d
        from .eval.metrics import MissingWeightsError
        from .infer import resolve_device_dtype

        try:
            fvd_model = load_i3d(fvd_i3d, str(resolve_device_dtype(device, dtype)[0]))
        except (MissingWeightsError, ValueError) as e:
            _fail(f"--fvd-i3d: {escape(str(e))}")
    try:
        plist = read_pairs(pairs) if pairs is not None else sample_pairs(dataset, num_pairs, seed)
    except DatasetFormatError as e:
        _fail(str(e))
    src = f"videos:{videos.resolve()}" if videos is not None else f"model:{model_dir.resolve()}|{ckpt}"
    settings = EvalSettings(num_frames=num_frames, height=height, width=width, steps=steps, guidance=guidance,
                            seed=seed, pose_stride=pose_stride, pose_max_size=pose_max_size, pose_mapper=mapper,
                            reference_poses=reference_poses, source=src)
    generate = None
    if model_dir is not None:
        import torch

        from .infer import resolve_device_dtype
        from .pipeline import ReCamMasterPipeline
        from .video import frames_to_tensor

        try:
            dev, dt = resolve_device_dtype(device, dtype)
            pipe = ReCamMasterPipeline.from_wan(model_dir, ckpt, torch_dtype=dt)
        except (FileNotFoundError, ValueError, OSError) as e:
            _fail(str(e))
        if ckpt is None:
            console.print("[yellow]warning:[/yellow] no --ckpt: camera modules untrained")
        pipe.to(dev)

        def generate(frames, prompt, cam_emb):
            return pipe(frames_to_tensor(frames)[None], prompt, torch.from_numpy(cam_emb).float(),
                        num_inference_steps=steps, guidance_scale=guidance, seed=seed).frames[0]

    console.print(f"evaluating {len(plist)} pairs of {dataset} into {out}")
    t0 = time.perf_counter()
    count = [0, 0]
    with job_progress("pairs") as prog:
        task = prog.add_task("eval", total=len(plist))

        def on_done(pid, row, skipped):
            count[0] += 1
            count[1] += 0 if skipped else 1
            prog.advance(task)
            if prog.disable and not skipped:
                el = time.perf_counter() - t0
                console.print(f"{pid}: PSNR {row.get('psnr', '')}, SSIM {row.get('ssim', '')}, poses "
                              f"{row.get('pose_status', '')}, RotErr {row.get('rot_err_deg', '')} deg "
                              f"({count[0]}/{len(plist)}, ETA {el / count[1] * (len(plist) - count[0]):.0f} s)")

        t_fvd: List[float] = []

        def on_fvd(i, n):
            t_fvd.append(time.perf_counter())
            rate = (len(t_fvd) - 1) / (t_fvd[-1] - t_fvd[0]) if len(t_fvd) > 1 else 0.0
            eta = f", ETA {(n - i) / rate:.0f} s" if rate > 0 else ""
            console.print(f"FVD: I3D features of pair {i}/{n}{eta}")

        try:
            rows = evaluate_pairs(dataset, plist, out, settings, generate=generate, videos_dir=videos,
                                  lpips_weights=lpips_weights, clip_model=clip_model, on_done=on_done,
                                  fvd_model=fvd_model, on_fvd=on_fvd)
        except (ValueError, DatasetFormatError) as e:
            _fail(str(e))
    failed = sum(r.get("pose_status") == "failed" for r in rows)
    console.print((out / "summary.md").read_text())
    console.print(f"{len(rows)} pairs ({failed} failed) in {time.perf_counter() - t0:.1f} s; results in "
                  f"[bold]{out.resolve()}[/bold]")


def main(argv: Optional[List[str]] = None) -> None:  # pragma: no cover
    app(argv)


if __name__ == "__main__":  # pragma: no cover
    main()
