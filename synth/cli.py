"""``synth``: plan, render, validate, summarise and draw MultiCamVideo-format datasets."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from .progress import console, job_progress, out_console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Synchronized multi-camera video generator (MultiCamVideo recipe of ReCamMaster).")


def _fail(msg: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(code)


def _load(config: Optional[Path], catalog: Optional[Path]):
    from .catalog import load_catalog
    from .config import ConfigError, load_config

    try:
        return load_config(config), load_catalog(catalog)
    except ConfigError as e:
        _fail(str(e))


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
    from .sampling import SamplingError, sample_scene
    from .writer import (DatasetMismatchError, ensure_run_manifest, finish_run, parse_shard,
                         scene_outputs_present, shard_indices, staged_scene, write_plan_files)

    cfg, cat = _load(config, catalog)
    try:
        indices = shard_indices(scenes, parse_shard(shard))
        ensure_run_manifest(out, seed, cfg, cat)
    except (ValueError, DatasetMismatchError) as e:
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
                    write_plan_files(tmp, p)
                done += 1
            prog.advance(task)
    rows = finish_run(out)
    dt = time.perf_counter() - t0
    console.print(f"planned {done} scenes ({skipped} already complete) in {dt:.1f} s "
                  f"({len(indices) / max(dt, 1e-9):.0f} scenes/s); metadata.csv: {rows} rows")
    console.print(f"dataset: [bold]{out.resolve()}[/bold]")


@app.command()
def render(
    scenes: int = typer.Option(..., "--scenes", min=1, help="Number of scenes (indices 0..N-1)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Run seed; scene k draws from (seed, k)."),
    out: Path = typer.Option(Path("out/multicam"), "--out", help="Dataset root."),
    width: Optional[int] = typer.Option(None, "--width", help="Video width (default: config, 1280)."),
    height: Optional[int] = typer.Option(None, "--height", help="Video height (default: config, 1280)."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per video (default: config, 81)."),
    backend: str = typer.Option("embedded", "--backend", help="embedded (Panda3D) or unreal (UnrealCV)."),
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
    msaa: int = typer.Option(0, "--msaa", min=0, max=16, help="Multisample anti-aliasing samples (embedded)."),
    ue_binary: Optional[Path] = typer.Option(None, "--ue-binary", help="Packaged UE5 game to launch (unreal)."),
    ue_map: Optional[str] = typer.Option(None, "--map", help="Map to load at launch (unreal)."),
    ue_endpoint: Optional[str] = typer.Option(None, "--ue-endpoint", help="HOST:PORT of a running UnrealCV "
                                              "server (unreal)."),
    ue_port: int = typer.Option(9000, "--ue-port", help="Port for a launched UE5 game (unreal)."),
    ue_timeout: float = typer.Option(60.0, "--ue-timeout", help="Seconds to wait for an UnrealCV reply; after a "
                                     "timeout the connection is replaced and the scene rendered again (unreal)."),
    ue_allow_root: bool = typer.Option(False, "--ue-allow-root", hidden=True,
                                       help="Launch even as root (test doubles only; Unreal itself refuses)."),
    split: str = typer.Option("train", "--split", help="train, or eval: a held-out evaluation set whose seeds "
                              "never coincide with a training run's (recorded in synth_run.json)."),
) -> None:
    """Render scenes into the MultiCamVideo layout (videos + cameras + scene.json + metadata.csv)."""
    from .render.driver import RenderSettings, render_scenes, summarize
    from .render.outputs import OutputSpec
    from .writer import DatasetMismatchError, ensure_run_manifest, finish_run, parse_shard, shard_indices

    if backend not in ("embedded", "unreal"):
        _fail(f"--backend must be embedded or unreal, got {backend!r}")
    if backend == "unreal" and catalog is None:
        _fail("--backend unreal needs --catalog (the Unreal project's maps, characters and animations)")
    if backend == "unreal" and workers > 1:
        _fail("--backend unreal renders through one game (UnrealCV serves one client): use --workers 1 and run one "
              "synth render per game instance with --shard i/n")
    cfg, cat = _load(config, catalog)
    if cat.backend != backend:
        _fail(f"{catalog or 'the built-in catalog'}: backend: {cat.backend!r}, but --backend is {backend!r}; its "
              f"assets cannot be loaded by the {backend} renderer")
    from .splits import effective_seed, record_split

    try:
        cfg = cfg.with_video(width=width, height=height, frames=frames)
        indices = shard_indices(scenes, parse_shard(shard))
        requested_seed, seed = seed, effective_seed(seed, split)
        ensure_run_manifest(out, seed, cfg, cat)
        if split != "train":
            record_split(out, split, requested_seed)
    except (ValueError, DatasetMismatchError) as e:
        _fail(str(e))
    options = {"msaa": msaa}
    launcher = None
    if backend == "unreal":
        from .render.unreal.launcher import UnrealLaunchError, start_or_attach

        try:
            launcher, options = start_or_attach(ue_binary=ue_binary, ue_map=ue_map, endpoint=ue_endpoint,
                                                port=ue_port, width=cfg.video.width, height=cfg.video.height,
                                                allow_root=ue_allow_root)
            options["timeout"] = ue_timeout
        except UnrealLaunchError as e:
            _fail(str(e))
    settings = RenderSettings(out=out, seed=seed, cfg=cfg, catalog=cat, backend=backend,
                              spec=OutputSpec(depth=depth, masks=masks, joints=joints, crf=crf, preset=preset),
                              backend_options=options)
    v = cfg.video
    console.print(f"rendering {len(indices)} scenes x {cfg.cameras_per_scene} cameras x {v.frames} frames at "
                  f"{v.width}x{v.height} ({backend}, {workers} worker(s)) into {out}")
    done = []
    t0 = time.perf_counter()
    try:
        with job_progress("scenes") as prog:
            task = prog.add_task("render", total=len(indices))
            for st in render_scenes(settings, indices, workers):
                done.append(st)
                prog.advance(task)
                if prog.disable and not st.skipped:  # no live bar (not a terminal): one line per scene
                    el = time.perf_counter() - t0
                    n = len(done)
                    console.print(f"scene {st.index} done ({n}/{len(indices)}, {st.images / max(st.wall_s, 1e-9):.1f} "
                                  f"images/s, ETA {el / n * (len(indices) - n):.0f} s)")
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
    finally:
        if launcher is not None:
            launcher.stop()
    rows = finish_run(out)
    s = summarize(done)
    dt = time.perf_counter() - t0
    console.print(f"rendered {s['scenes']} scenes ({s['skipped']} already complete) in {dt:.1f} s: "
                  f"{s['images'] / max(dt, 1e-9):.1f} images/s overall (render {s['render_images_per_s']:.1f}/s, "
                  f"encode {s['write_images_per_s']:.1f}/s); metadata.csv: {rows} rows")
    console.print(f"dataset: [bold]{out.resolve()}[/bold]  (check it with: synth validate {out})")


@app.command()
def validate(
    root: Path = typer.Argument(..., help="Dataset root (or one scene folder)."),
    videos: bool = typer.Option(True, "--videos/--no-videos", help="Probe videos (frame count, fps, size)."),
    max_problems: int = typer.Option(200, help="Print at most this many problems."),
) -> None:
    """Check a dataset (ours or the official MultiCamVideo); exit 1 if any problem is found."""
    from .validate import validate_dataset

    t0 = time.perf_counter()
    problems, counts = validate_dataset(root, check_videos=videos)
    for p in problems[:max_problems]:
        console.print(f"[red]problem[/red] {p}")
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
    from .stats import collect_stats

    st = collect_stats(root)
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
        json_out.write_text(json.dumps(st.to_json(), indent=1, default=float))
    if strict and bad:
        raise typer.Exit(1)


@app.command()
def plot(
    scene_dir: Path = typer.Argument(..., help="A scene folder (with cameras/camera_extrinsics.json)."),
    out: Path = typer.Option(..., "--out", help="Output PNG."),
    every: int = typer.Option(10, min=1, help="Draw a frustum every N frames."),
) -> None:
    """Draw the scene's trajectories as camera frusta around the character."""
    from .multicam_format import DatasetFormatError
    from .plot import plot_scene

    try:
        path = plot_scene(scene_dir, out, every=every)
    except DatasetFormatError as e:
        _fail(str(e))
    console.print(f"wrote {path}")


@app.command()
def index(root: Path = typer.Argument(..., help="Dataset root.")) -> None:
    """Rebuild metadata.csv from every complete scene (after sharded runs)."""
    from .writer import rebuild_metadata

    console.print(f"metadata.csv: {rebuild_metadata(root)} rows")


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
    from .multicam_format import DatasetFormatError
    from .verify import VerifyThresholds, list_items, run_verify, select_items
    from .writer import parse_shard

    try:
        from recam.eval.poses import PoseOptions

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
