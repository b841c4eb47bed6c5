"""``synth studio DATASET``'s settings and service: list the scenes, serve the app until Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

from pydantic import BaseModel, ConfigDict, Field

from ..core.ports import check_port
from ..core.run_errors import UserError

__all__ = ["SynthStudioSettings", "run", "start_studio", "check_port"]


class SynthStudioSettings(BaseModel):
    """What ``synth studio DATASET`` was asked to do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Path = Field(description="Dataset root.", json_schema_extra={"cli": False})
    port: int = Field(8080, ge=1, le=65535, description="Port to serve on.")
    host: str = Field("127.0.0.1", description="Address to serve on (0.0.0.0 shares it on your network).")
    verify_csv: Optional[Path] = Field(None, description="synth verify's verify.csv (default: <dataset>/../verify/"
                                       "verify.csv or ./verify/verify.csv when present).")
    no_validate: bool = Field(False, description="Do not run synth validate's checks per scene.")


def start_studio(s: SynthStudioSettings):
    """Check the inputs and the port, start the server and the app; returns ``(server, app)``."""
    from .scenes import list_scenes, read_verify_csv

    scenes = list_scenes(s.dataset)
    if not scenes:
        raise UserError(f"{s.dataset}: no scene folders (expected {s.dataset}/train/<lens>/scene<N>/)")
    csv_path = s.verify_csv
    if csv_path is not None and not csv_path.is_file():
        raise UserError(f"--verify-csv {csv_path}: no such file")
    if csv_path is None:
        csv_path = next((p for p in (Path("verify/verify.csv"), s.dataset.parent / "verify/verify.csv")
                         if p.is_file()), None)
    check_port(s.host, s.port)
    import viser

    from .app import SynthStudio

    server = viser.ViserServer(host=s.host, port=s.port, verbose=False)
    return server, SynthStudio(server, s.dataset, scenes, read_verify_csv(csv_path), not s.no_validate)


def run(s: SynthStudioSettings, log: Callable[[str], None] = print, until: Optional[Callable[[], bool]] = None
        ) -> None:
    """Serve until Ctrl-C (or ``until()``); prints the URL."""
    server, app = start_studio(s)
    log(f"synth studio: http://{s.host}:{s.port}  ({len(app.scenes)} scenes; Ctrl-C to stop)")
    try:
        while until is None or not until():
            time.sleep(0.2)
    except KeyboardInterrupt:
        log("stopped")
    finally:
        server.stop()
