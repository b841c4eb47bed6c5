"""``synth``: plan, render, validate, summarise and draw MultiCamVideo-format datasets."""

from __future__ import annotations

import functools
import inspect
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from .core.layout import METADATA_CSV
from .core.progress import console, job_progress, out_console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Synchronized multi-camera video generator (MultiCamVideo recipe of ReCamMaster).")


def _fail(msg: str, code: int = 2) -> None:
    """Print ``error: msg`` (literal text: ``[a b c d]`` in a message is not rich markup) and exit with ``code``
    (2: bad input, 1: a failed check)."""
    console.print(f"[red]error:[/red] {escape(str(msg))}")
    raise typer.Exit(code)


def _need_dir(path: Path, what: str) -> None:
    """Exit 2 unless ``path`` is an existing folder (checked before any heavy import)."""
    if not path.exists():
        _fail(f"{path}: does not exist; expected {what}")
    if not path.is_dir():
        _fail(f"{path}: is a file; expected {what}")


def _need_file(path: Optional[Path], what: str) -> None:
    if path is not None and not path.is_file():
        _fail(f"{path}: {'is a folder' if path.is_dir() else 'does not exist'}; expected {what}")


def _need_output_file(path: Path, option: str = "--out") -> None:
    """Exit 2 if an output file path is a folder or lies below a file."""
    if path.is_dir():
        _fail(f"{option} {path}: is a folder; expected a file path")
    for p in path.parents:
        if p.exists():
            if not p.is_dir():
                _fail(f"{option} {path}: {p} is a file; expected a folder there")
            return


def _need_output_outside(out: Optional[Path], inputs: List[Path], option: str) -> None:
    """Exit 2 if an output equals an input path or lies inside an input dataset (path policy, before any work)."""
    from .core.paths import UnsafePathError, check_output_not_inside_inputs

    try:
        if out is not None:
            check_output_not_inside_inputs(out, inputs, option, "input dataset")
    except UnsafePathError as e:
        _fail(str(e))


def _need_out_folder(out: Path) -> None:
    """Exit 2 if ``--out`` (or a folder above it) is an existing file, or lies inside an existing dataset's scene
    folder (a dataset written there would corrupt that scene)."""
    from .core.paths import enclosing_scene

    scene = enclosing_scene(out)
    if scene is not None:
        _fail(f"--out {out}: is inside the scene folder {scene} of an existing dataset; expected a dataset folder "
              f"outside any scene")
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                _fail(f"--out {out}: {p} is a file; expected a dataset folder (existing or new)")
            return


def _lock_output(out: Path, shard: Optional[str], command: str):
    """``out``'s lock for this shard (a context manager: hold it with ``with``) so that two runs into one folder fail
    with a message naming the holder. Exit 2 if ``--out`` is a file or locked. Releasing removes the lock file."""
    from .core.lock import OutputLockError, acquire_output_lock
    from .core.sharding import parse_shard

    _need_out_folder(out)
    try:
        lock = acquire_output_lock(out, parse_shard(shard), command=f"synth {command} --out {out}"
                                   + (f" --shard {shard}" if shard else ""))
    except OutputLockError as e:
        _fail(str(e))
    except ValueError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"--out {out}: cannot create the folder ({e.strerror or e})")
    return lock


def _load(config: Optional[Path], catalog: Optional[Path]):
    """Load and validate the generator config and the asset catalog; exit 2 naming the file (and key) if either is
    missing, not UTF-8, not YAML or invalid."""
    _need_file(config, "a generator config YAML")
    _need_file(catalog, "an asset catalog YAML")
    from .scenes.catalog import load_catalog
    from .scenes.config import load_config
    from .core.errors import ConfigError

    out = []
    for what, path, loader in (("config", config, load_config), ("catalog", catalog, load_catalog)):
        try:
            out.append(loader(path))
        except ConfigError as e:
            _fail(str(e))
        except UnicodeDecodeError as e:
            _fail(f"{path or 'the default ' + what}: not UTF-8 text (byte offset {e.start}); expected a UTF-8 YAML "
                  f"{what} file")
        except OSError as e:
            _fail(f"{e.filename or path}: cannot be read ({e.strerror or e})")
    return out[0], out[1]


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
    from .scenes.sampling import SamplingError, sample_scene
    from .core.sharding import parse_shard, shard_indices
    from .dataset.writer import (DatasetMismatchError, ensure_run_manifest, finish_run, scene_outputs_present,
                         staged_scene)
    from .core.multicam_format import write_scene_files
    from .render.preflight import preflight_plan

    _need_out_folder(out)
    cfg, cat = _load(config, catalog)
    try:
        indices = shard_indices(scenes, parse_shard(shard))
        preflight_plan(out, cfg, cat, seed, indices)
    except ValueError as e:
        _fail(str(e))
    with _lock_output(out, shard, "plan"):  # before the run manifest: a losing concurrent run writes nothing
        try:
            ensure_run_manifest(out, seed, cfg, cat)
        except DatasetMismatchError as e:
            _fail(str(e))
        t0 = time.perf_counter()
        done = skipped = 0
        with job_progress("scenes") as prog:
            task = prog.add_task("plan", total=len(indices))
            for k in indices:
                try:
                    p = sample_scene(cfg, cat, seed, k)
                except SamplingError as e:
                    _fail(str(e))
                if scene_outputs_present(out / p.relpath, p):
                    skipped += 1
                else:
                    with staged_scene(out, p) as tmp:
                        write_scene_files(tmp, p)
                    done += 1
                prog.advance(task)
        rows = finish_run(out)
        dt = time.perf_counter() - t0
        console.print(f"planned {done} scenes ({skipped} already complete) in {dt:.1f} s "
                      f"({len(indices) / max(dt, 1e-9):.0f} scenes/s); {METADATA_CSV}: {rows} rows")
        console.print(f"dataset: [bold]{out.resolve()}[/bold]")


def render(
    ctx: typer.Context,
    scenes: int = typer.Option(..., "--scenes", min=1, help="Number of scenes (indices 0..N-1)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Run seed; scene k draws from (seed, k)."),
    out: Path = typer.Option(Path("out/multicam"), "--out", help="Dataset root."),
    width: Optional[int] = typer.Option(None, "--width", help="Video width (default: config, 1280)."),
    height: Optional[int] = typer.Option(None, "--height", help="Video height (default: config, 1280)."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per video (default: config, 81)."),
    backend: str = typer.Option("embedded", "--backend", help="Renderer backend (see _WithBackendOptions)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Scenes rendered in parallel processes."),
    shard: Optional[str] = typer.Option(None, "--shard", help="i/n: render only scenes with index % n == i "
                                        "(e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)."),
    depth: bool = typer.Option(False, "--depth", help="Also write per-camera depth (16-bit PNG, mm)."),
    masks: bool = typer.Option(False, "--masks", help="Also write character masks (PNG)."),
    joints: bool = typer.Option(False, "--joints", help="Also write 2D/3D joint positions (joints/joints.npz)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Generator config YAML."),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help="Asset catalog YAML (default: the backend's)."),
    crf: int = typer.Option(18, "--crf", min=0, max=51, help="x264 quality (lower = better)."),
    preset: str = typer.Option("veryfast", "--preset", help="x264 speed preset."),
    encode_threads: int = typer.Option(0, "--encode-threads", min=0, help="Threads encoding the 10 streams "
                                       "in parallel (0 = cores - 2, at least 1)."),
    split: str = typer.Option("train", "--split", help="train, or eval: a held-out evaluation set whose seeds "
                              "never coincide with a training run's (recorded in synth_run.json)."),
    **backend_flags,  # one keyword per option of every registered backend: see _WithBackendOptions
) -> None:
    """Render scenes into the MultiCamVideo layout (videos + cameras + scene.json + metadata.csv)."""
    import contextlib

    from .core.sharding import parse_shard, shard_indices
    from .render.backend import BackendSetupError
    from .render.backends import UnknownBackendError, get_backend
    from .render.driver import RenderSettings, render_scenes, summarize
    from .render.outputs import OutputSpec
    from .render.preflight import preflight_render
    from .dataset.writer import DatasetMismatchError, ensure_run_manifest, finish_run

    _need_out_folder(out)
    try:
        entry = get_backend(backend)
    except UnknownBackendError as e:
        _fail(f"--backend: {e}")
    options = _backend_options(ctx, entry, backend_flags)
    if entry.needs_catalog and catalog is None:
        _fail(f"--backend {backend} needs --catalog ({entry.needs_catalog})")
    if entry.max_workers is not None and workers > entry.max_workers:
        _fail(f"--backend {backend} renders with at most {entry.max_workers} worker(s): {entry.workers_hint}")
    cfg, cat = _load(config, catalog)
    if cat.backend != backend:
        _fail(f"{catalog or 'the built-in catalog'}: backend: {cat.backend!r}, but --backend is {backend!r}; its "
              f"assets cannot be loaded by the {backend} renderer")
    from .scenes.splits import effective_seed, record_split

    try:
        cfg = cfg.with_video(width=width, height=height, frames=frames)
        indices = shard_indices(scenes, parse_shard(shard))
        requested_seed, seed = seed, effective_seed(seed, split)
        preflight_render(out, cfg, cat, backend, OutputSpec(depth=depth, masks=masks, preset=preset), seed, indices,
                         log=console.print, catalog_source=str(catalog or "the built-in catalog"))
    except ValueError as e:
        _fail(str(e))
    with _lock_output(out, shard, "render"):  # before the run manifest: a losing concurrent run writes nothing
        try:
            ensure_run_manifest(out, seed, cfg, cat,
                                render={"quality": options.quality} if backend == "embedded" else None)
            if split != "train":
                record_split(out, split, requested_seed)
        except DatasetMismatchError as e:
            _fail(str(e))
        session = contextlib.ExitStack()
        try:
            kwargs = session.enter_context(entry.session(options, cfg.video.width, cfg.video.height))
        except BackendSetupError as e:
            _fail(str(e))
        settings = RenderSettings(out=out, seed=seed, cfg=cfg, catalog=cat, backend=backend,
                                  spec=OutputSpec(depth=depth, masks=masks, joints=joints, crf=crf, preset=preset,
                                                  encode_threads=encode_threads),
                                  backend_options=kwargs)
        v = cfg.video
        console.print(f"rendering {len(indices)} scenes x {cfg.cameras_per_scene} cameras x {v.frames} frames at "
                      f"{v.width}x{v.height} ({backend}, {workers} worker(s)) into {out}")
        done = []
        t0 = time.perf_counter()
        with session:  # stops what the backend's session started (a launched game), however the run ends
            try:
                per_scene = cfg.cameras_per_scene * v.frames
                with job_progress("images") as prog:  # frame-level progress from the first frame, also in logs
                    task = prog.add_task("render", total=len(indices) * per_scene)
                    for st in render_scenes(settings, indices, workers, on_images=lambda n: prog.advance(task, n)):
                        done.append(st)
                        if st.skipped:
                            prog.advance(task, per_scene)
                        if prog.disable and not st.skipped:  # no live bar (not a terminal): one line per scene
                            el = time.perf_counter() - t0
                            n = len(done)
                            console.print(f"scene {st.index} done ({n}/{len(indices)}, "
                                          f"{st.images / max(st.wall_s, 1e-9):.1f} images/s, "
                                          f"ETA {el / n * (len(indices) - n):.0f} s)")
            except KeyboardInterrupt:
                finish_run(out)
                console.print(f"[yellow]interrupted[/yellow] after {len(done)} scenes; nothing half-written is left in "
                              f"the dataset. Run the same command again to resume.")
                raise typer.Exit(130)
            except OSError as e:
                finish_run(out)
                _fail(f"I/O error while writing into {out}: {e} (the scene in progress was discarded; free space and "
                      f"re-run to resume)")
            except Exception as e:  # noqa: BLE001 - backend errors carry their own message
                finish_run(out)
                _fail(f"{type(e).__name__}: {e} (the scene in progress was discarded; re-run to resume)")
        rows = finish_run(out)
        s = summarize(done)
        dt = time.perf_counter() - t0
        console.print(f"rendered {s['scenes']} scenes ({s['skipped']} already complete) in {dt:.1f} s: "
                      f"{s['images'] / max(dt, 1e-9):.1f} images/s overall (render {s['render_images_per_s']:.1f}/s, "
                      f"encode {s['write_images_per_s']:.1f}/s); {METADATA_CSV}: {rows} rows")
        console.print(f"dataset: [bold]{out.resolve()}[/bold]  (check it with: synth validate {out})")


def _backend_options(ctx: typer.Context, entry, flags: dict):
    """The chosen backend's typed options from the ``synth render`` flags; a flag of another backend given on the
    command line (or in the environment) is an error (exit 2)."""
    from pydantic import ValidationError

    from .core.errors import format_validation_error
    from .render.backends import backends, option_flag

    for other in backends().values():
        if other.name == entry.name:
            continue
        for name, field in other.Options.model_fields.items():
            source = ctx.get_parameter_source(name)
            if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
                _fail(f"{option_flag(name, field)} is an option of --backend {other.name}, not of --backend "
                      f"{entry.name}")
    try:
        return entry.Options(**{k: flags[k] for k in entry.Options.model_fields if k in flags})
    except ValidationError as e:
        _fail(format_validation_error(e, f"--backend {entry.name} options"))


class _WithBackendOptions:
    """A command whose ``**backend_flags`` catch-all becomes one keyword parameter (flag) per option of every
    registered backend (their ``Options`` models). Typer reads a command's parameters from its signature; this one
    is computed when typer asks, so backends registered after import get their flags too."""

    def __init__(self, func):
        functools.update_wrapper(self, func)

    def __call__(self, *args, **kwargs):
        return self.__wrapped__(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        import annotated_types

        from .render.backends import backends, option_flag

        sig = inspect.signature(self.__wrapped__, eval_str=True)
        registered = backends()
        names = "; ".join(f"{n}: {e.help}" if e.help else n for n, e in registered.items())
        params = [p.replace(default=typer.Option("embedded", "--backend", help=f"Renderer backend ({names}).")) if
                  p.name == "backend" else p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        taken = {p.name for p in params}
        for entry in registered.values():
            for name, field in entry.Options.model_fields.items():
                if name in taken:
                    raise ValueError(f"backend {entry.name!r}: option {name!r} clashes with a synth render parameter")
                extra = field.json_schema_extra or {}
                bounds = {"min": m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)}
                bounds.update({"max": m.le for m in field.metadata if isinstance(m, annotated_types.Le)})
                default = typer.Option(field.default, option_flag(name, field),
                                       help=f"{field.description.rstrip('.')} ({entry.name}).",
                                       hidden=bool(extra.get("hidden")), **bounds)
                params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                                annotation=field.annotation))
        return sig.replace(parameters=params)


app.command()(_WithBackendOptions(render))


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
    for p in problems[:max_problems]:
        console.print(f"[red]problem[/red] {escape(str(p))}")
    if len(problems) > max_problems:
        console.print(f"... and {len(problems) - max_problems} more")
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
        _need_output_file(json_out, "--json")
    _need_output_outside(json_out, [root], "--json")
    from rich.table import Table

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
    out_console.print(f"[bold]{st.scenes}[/bold] scenes, [bold]{st.cameras}[/bold] cameras")
    for name, counter in st.categorical.items():
        exp = st.expected_fractions.get(name, {})
        tab = Table(title=name, title_justify="left")
        tab.add_column("value")
        tab.add_column("count", justify="right")
        tab.add_column("fraction", justify="right")
        tab.add_column("configured", justify="right")
        total = sum(counter.values())
        for key in sorted(set(counter) | set(exp)):
            tab.add_row(key, str(counter.get(key, 0)), f"{counter.get(key, 0) / total:.3f}",
                        f"{exp[key]:.3f}" if key in exp else "")
        out_console.print(tab)
    tab = Table(title="numeric", title_justify="left")
    for col in ("quantity", "n", "min", "p5", "median", "p95", "max", "configured", "outside"):
        tab.add_column(col, justify="right" if col != "quantity" else "left")
    bad = 0
    for name, num in st.numeric.items():
        s = num.summary()
        oor = num.out_of_range()
        bad += oor
        rng = f"[{num.expected[0]:g}, {num.expected[1]:g}]" if num.expected else ""
        tab.add_row(name, str(s["n"]), *(f"{s[k]:.3g}" for k in ("min", "p5", "median", "p95", "max")), rng,
                    f"[red]{oor}[/red]" if oor else "0")
    out_console.print(tab)
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
    from .dataset.writer import rebuild_metadata

    with _lock_output(root, None, "index"):  # not while a render or plan writes into root (it rebuilds it at its end)
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

    _, cat = _load(None, catalog)
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


@app.command()
def verify(
    root: Path = typer.Argument(..., help="Dataset root (or one scene folder)."),
    out: Path = typer.Option(Path("verify"), "--out", help="Folder for verify.csv, plots/ and verify_summary.json."),
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
) -> None:
    """Estimate every camera's poses from its video (COLMAP) and compare with camera_extrinsics.json; exit 1 if
    any camera is flagged."""
    from .core.multicam_format import DatasetFormatError
    from .core.sharding import parse_shard
    from .dataset.verify import VerifyThresholds, list_items, run_verify, select_items

    try:
        from .core.pose_estimation import PoseOptions

        options = PoseOptions(stride=stride, max_size=max_size, mapper=mapper, num_threads=threads)
        sh = parse_shard(shard)
        items = select_items(list_items(root), sh, sample, seed, cameras.split(",") if cameras else None)
    except (ValueError, DatasetFormatError) as e:
        _fail(str(e))
    if not items:
        _fail(f"{root}: no camera videos to verify (shard {shard or '0/1'})")
    thresholds = VerifyThresholds(rot_deg=rot_deg, trans_rel=trans_rel)
    csv_name = "verify.csv" if sh == (0, 1) else f"verify.shard{sh[0]}of{sh[1]}.csv"
    console.print(f"verifying {len(items)} cameras of {len({i.scene for i in items})} scenes "
                  f"({workers} worker(s), every {stride}th frame, <= {max_size} px) into {out}")
    t0 = time.perf_counter()
    n_done = [0, 0]
    with job_progress("cameras") as prog:
        task = prog.add_task("verify", total=len(items))

        def on_done(chk, skipped):
            n_done[0] += 1
            n_done[1] += 0 if skipped else 1
            prog.advance(task)
            if prog.disable and chk is not None:
                el = time.perf_counter() - t0
                eta = el / n_done[1] * (len(items) - n_done[0])
                flag = f" [red]FLAGGED ({chk.reasons})[/red]" if chk.flagged else ""
                console.print(f"{chk.scene}/{chk.camera} {chk.family}: {chk.status}, rot {chk.max_rot_err_deg:.2f} "
                              f"deg, trans {chk.max_trans_err_rel:.3f}{flag} ({n_done[0]}/{len(items)}, "
                              f"{chk.seconds:.1f} s, ETA {eta:.0f} s)")

        rows = run_verify(items, out, options, thresholds, workers, csv_name, on_done)
    flagged = [r for r in rows if r["flagged"] == "True"]
    status = {}
    for r in rows:
        status[r["status"]] = status.get(r["status"], 0) + 1
    console.print(f"{len(rows)} cameras in {time.perf_counter() - t0:.1f} s: "
                  + ", ".join(f"{v} {k}" for k, v in sorted(status.items())) + f"; results in {out.resolve()}")
    for r in flagged:
        console.print(f"[red]flagged[/red] {r['scene']}/{r['camera']} ({r['family']}): {r['reasons']} "
                      f"(rot {float(r['max_rot_err_deg']):.2f} deg, trans {float(r['max_trans_err_rel']):.3f}, "
                      f"depth {float(r['depth_m']):.3g} m) {r['message']}")
    if flagged:
        console.print(f"[red]{len(flagged)} camera(s) flagged[/red]")
        raise typer.Exit(1)
    console.print("[green]no camera flagged[/green]")


def main(argv: Optional[List[str]] = None) -> None:  # pragma: no cover
    app(argv)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
