"""The service behind ``recam studio VIDEO``: check the port, read the source, serve the app until Ctrl-C."""

from __future__ import annotations

import time
from typing import Callable, Optional

from synth.core.ports import check_port
from synth.core.run_errors import UserError

from .settings import StudioSettings

__all__ = ["run", "check_port", "start_studio"]


def start_studio(settings: StudioSettings, source=None):
    """Start the viser server and the app (returns ``(server, app)``); ``source`` skips pose estimation (tests)."""
    import viser

    from .app import RecamStudio
    from .infer_job import RunConfig
    from .source import load_source

    check_port(settings.host, settings.port)
    if not settings.video.is_file():
        raise UserError(f"{settings.video}: no such video file")
    if source is None:
        source = load_source(settings.video, num_frames=settings.num_frames, stride=settings.stride,
                             max_size=settings.max_size, hfov_deg=settings.hfov, scale=settings.scale,
                             metric_scale=settings.metric_scale)
    settings.out.mkdir(parents=True, exist_ok=True)
    run_cfg = None
    if settings.model_dir is not None:
        run_cfg = RunConfig(settings.model_dir, settings.ckpt, settings.infer_height, settings.infer_width,
                            settings.steps, settings.device, settings.out / "results")
    server = viser.ViserServer(host=settings.host, port=settings.port, verbose=False)
    return server, RecamStudio(server, source, settings.video, settings.out, run_cfg)


def run(settings: StudioSettings, log: Callable[[str], None] = print, until: Optional[Callable[[], bool]] = None
        ) -> None:
    """Serve until Ctrl-C (or ``until()`` is true). Prints the URL and why the source has no point cloud, if so."""
    server, app = start_studio(settings)
    src = app.source
    log(f"source: {src.status}, {len(src.points)} points, {len(src.frame_indices)} frames shown"
        + (f" ({src.message})" if src.message else ""))
    log(f"recam studio: http://{settings.host}:{settings.port}  (Ctrl-C to stop; exports go to {settings.out})")
    try:
        while until is None or not until():
            time.sleep(1.0 / max(1.0, min(src.fps, 15.0)))
            app.tick()
    except KeyboardInterrupt:
        log("stopped")
    finally:
        server.stop()
