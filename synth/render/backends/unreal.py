"""The Unreal Engine 5 backend's registry entry: its options (a packaged game to launch, or a running one to attach
to) and the game's lifecycle for a run (:mod:`synth.render.unreal`)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from .base import BackendEntry, BackendOptions, option, register_backend


class UnrealOptions(BackendOptions):
    ue_binary: Optional[Path] = option(None, help="Packaged UE5 game to launch.")
    ue_map: Optional[str] = option(None, flag="--map", help="Map to load at launch.")
    ue_endpoint: Optional[str] = option(None, help="HOST:PORT of a running UnrealCV server.")
    ue_port: int = option(9000, help="Port for a launched UE5 game.", ge=1, le=65535)
    ue_timeout: float = option(60.0, help="Seconds to wait for an UnrealCV reply; after a timeout the connection is "
                                          "replaced and the scene rendered again.", gt=0)
    ue_level_timeout: float = option(300.0, help="Seconds to wait for a map to be ready (streaming, shaders); the "
                                                 "map is requested once.", gt=0)
    ue_step: bool = option(False, help="Step the world by one fixed time step per frame instead of posing it "
                                       "paused (cloth, groom, Niagara follow; slower).")
    ue_settle: int = option(0, help="Renders per camera and frame before each capture to settle TAA/TSR, "
                                    "exposure and Lumen history; 0 turns those temporal effects off.", ge=0, le=64)
    ue_hash_every: int = option(20, help="Check every N-th frame of a scene against a re-capture of the same "
                                         "frame (the plugin's hash); 0: never.", ge=0)
    ue_allow_root: bool = option(False, hidden=True, help="Launch even as root (test doubles only; Unreal itself "
                                                          "refuses).")


@register_backend
class UnrealEntry(BackendEntry):
    name = "unreal"
    Options = UnrealOptions
    help = "UE5 through UnrealCV (needs --catalog and --ue-binary or --ue-endpoint)"
    needs_catalog = "the Unreal project's maps, characters and animations"
    max_workers = 1
    workers_hint = ("UnrealCV serves one client: use --workers 1 and run one synth render per game instance with "
                    "--shard i/n")

    def create(self, catalog, num_cameras: int, **kwargs: Any):
        from ..unreal.backend import UnrealBackend

        return UnrealBackend(catalog, num_cameras, **kwargs)

    @contextlib.contextmanager
    def session(self, options: UnrealOptions, width: int, height: int) -> Iterator[Dict[str, Any]]:
        """Launch the game (``--ue-binary``; restarted by the backend if it dies, stopped on exit) or attach to a
        running one (``--ue-endpoint``, probed first). Yields :class:`~synth.render.unreal.backend.UnrealBackend`
        keyword arguments.

        Raises:
            UnrealLaunchError: (a :class:`~synth.render.backend.BackendSetupError`) neither or both of binary /
                endpoint, nothing answering at the endpoint, a game that does not start.
        """
        from ..unreal.launcher import UELauncher, UnrealLaunchError, parse_endpoint, probe

        o = options
        if (o.ue_binary is None) == (o.ue_endpoint is None):
            raise UnrealLaunchError("--backend unreal needs --ue-binary PATH (launch a packaged game) or "
                                    "--ue-endpoint HOST:PORT (attach to a running one)")
        if o.ue_endpoint is not None:
            ep = parse_endpoint(o.ue_endpoint)
            if probe(ep) is None:
                raise UnrealLaunchError(f"nothing answers as UnrealCV at {ep[0]}:{ep[1]} (is the game running with "
                                        f"the UnrealCV plugin, and is no other client connected?)")
            yield {"endpoint": ep, **_tuning(o)}
            return
        launcher = UELauncher(Path(o.ue_binary), o.ue_map, o.ue_port, width, height, allow_root=o.ue_allow_root)
        try:
            launcher.start()
            yield {"endpoint": ("127.0.0.1", o.ue_port), "launcher": launcher, **_tuning(o)}
        finally:
            launcher.stop()


def _tuning(o: UnrealOptions) -> Dict[str, Any]:
    """The :class:`~synth.render.unreal.backend.UnrealBackend` keyword arguments set by flags."""
    return {"timeout": o.ue_timeout, "level_timeout": o.ue_level_timeout, "mode": "step" if o.ue_step else "paused",
            "settle": o.ue_settle, "hash_every": o.ue_hash_every}
