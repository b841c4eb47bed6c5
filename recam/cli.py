"""``recam``: ReCamMaster on Wan2.1 — inference, checkpoint conversion, tiny models, data preparation, training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from synth.core.command_line import CONTEXT_SETTINGS, WithModelOptions, exits, given, settings_or_exit
from synth.core.command_line import fail as _fail
from synth.core.engine.options import ENGINE_OPTIONS, engine_settings_or_exit
from synth.core.progress import console

from .infer_settings import InferSettings  # light (pydantic): flags are checked before torch loads
from .eval.flags import with_eval_flags

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
        _fail(str(e))  # fail() prints it literally (no markup)
    n = sum(p.numel() for p in model.parameters())
    console.print(f"wrote {dst} ({n / 1e6:.1f} M parameters)")


def prepare(ctx: typer.Context, **flags) -> None:
    """Cache normalised VAE latents and text embeddings per clip window (pipelined, resumable, shardable)."""
    from .data.prepare_settings import PrepareRunSettings

    engine = engine_settings_or_exit(flags)  # --engine and its flags (pops them)
    own = {k: v for k, v in flags.items() if k in PrepareRunSettings.model_fields}
    kind_flags = {k: v for k, v in flags.items() if k not in own and given(ctx, k)}
    settings = settings_or_exit(PrepareRunSettings, kind_flags=kind_flags, engine=engine, **own)
    from .data.prepare import run

    with exits():
        run(settings, log=console.print)


def _prepare_models():
    """``recam prepare``'s own flags (its settings model), then every dataset kind's typed reader options."""
    from .data.formats import get_kind, kinds
    from .data.prepare_settings import PrepareRunSettings

    return [(None, PrepareRunSettings, None), *ENGINE_OPTIONS,
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
        _fail(str(e))
    try:
        trainer, module = run_train(cfg, resume)
    except NonFiniteLossError as e:
        _fail(str(e), code=3)
    except (FileNotFoundError, ValueError, ImportError) as e:
        _fail(str(e))
    if trainer.is_global_zero:
        console.print(f"trained to step {trainer.global_step} ({module.num_trainable():,} trainable parameters); "
                      f"outputs in [bold]{Path(cfg.output.dir).resolve()}[/bold]")


def eval_cmd(**flags) -> None:
    """Score re-capture on (source, target) camera pairs: PSNR/SSIM, RotErr/TransErr/CamMC, and LPIPS/CLIP/FVD
    with local weights; --protocol recammaster: every video of a folder x the preset trajectories.

    Flags: recam.eval.settings and each metric of recam.eval.metrics (recam.eval.flags)."""
    from synth.core.multicam_format import DatasetFormatError

    from .eval.protocol import run_protocol
    from .eval.run import run as run_eval
    from .eval.settings import EvalRunSettings

    try:
        settings = EvalRunSettings.from_flags(flags)
        (run_protocol if settings.protocol == "recammaster" else run_eval)(settings)
    except (ValueError, DatasetFormatError) as e:  # settings, metric weights, pairs, a resume into another run
        _fail(str(e))


app.command("eval")(with_eval_flags(eval_cmd))


def studio(source: Path = typer.Argument(..., metavar="VIDEO", help="Source video."), **flags) -> None:
    """Design a re-capture trajectory in the browser (viser): the source's 3D scene, presets, keyframes, preview,
    export for --trajectory and a run button. Prints the URL."""
    from .studio.settings import StudioSettings

    settings = settings_or_exit(StudioSettings, video=source, **flags)
    from .studio.run import run as run_studio

    with exits():
        run_studio(settings, log=console.print)


app.command(context_settings=CONTEXT_SETTINGS)(WithModelOptions(studio, lambda: [(None, _studio_settings(), None)]))


def _studio_settings():
    from .studio.settings import StudioSettings

    return StudioSettings


def main(argv: Optional[List[str]] = None) -> None:  # pragma: no cover
    app(argv)


if __name__ == "__main__":  # pragma: no cover
    main()
