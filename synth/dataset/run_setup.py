"""What ``synth plan`` and ``synth render`` do before writing into a dataset folder: load the generator config and
the asset catalog, check ``--out`` and take its lock. Every user error is a :class:`UserError` (exit 2) naming the
file (and key) and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

from ..core.run_errors import UserError

__all__ = ["need_file", "check_out_folder", "lock_output", "load_inputs", "check_before_writing"]


def need_file(path: Optional[Path], what: str) -> None:
    """Raise :class:`UserError` unless ``path`` is None or an existing file (``what``: what it should hold)."""
    if path is not None and not Path(path).is_file():
        raise UserError(f"{path}: {'is a folder' if Path(path).is_dir() else 'does not exist'}; expected {what}")


def check_out_folder(out: Path) -> None:
    """Raise :class:`UserError` if ``--out`` (or a folder above it) is an existing file, or lies inside an existing
    dataset's scene folder (a dataset written there would corrupt that scene; path policy, :mod:`synth.core.paths`)."""
    from ..core.paths import enclosing_scene

    scene = enclosing_scene(out)
    if scene is not None:
        raise UserError(f"--out {out}: is inside the scene folder {scene} of an existing dataset; expected a dataset "
                        f"folder outside any scene")
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise UserError(f"--out {out}: {p} is a file; expected a dataset folder (existing or new)")
            return


def lock_output(out: Path, shard: Optional[str], command: str):
    """``out``'s lock for this shard (a context manager: hold it with ``with``) so that two runs into one folder
    fail with a message naming the holder. Releasing removes the lock file.

    Raises:
        UserError: ``--out`` is a file, cannot be created, or is locked by another run; a malformed ``shard``.
    """
    from ..core.lock import OutputLockError, acquire_output_lock
    from ..core.sharding import parse_shard

    check_out_folder(out)
    try:
        return acquire_output_lock(out, parse_shard(shard), command=f"synth {command} --out {out}"
                                   + (f" --shard {shard}" if shard else ""))
    except (OutputLockError, ValueError) as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"--out {out}: cannot create the folder ({e.strerror or e})") from None


def load_inputs(config: Optional[Path], catalog: Optional[Path]) -> Tuple[object, object]:
    """The validated generator config (:class:`synth.scenes.config.SynthConfig`) and asset catalog
    (:class:`synth.scenes.catalog.Catalog`); None: the defaults.

    Raises:
        UserError: either file missing, not UTF-8, not YAML or invalid (naming the file and key).
    """
    need_file(config, "a generator config YAML")
    need_file(catalog, "an asset catalog YAML")
    from ..core.errors import ConfigError
    from ..scenes.catalog import load_catalog
    from ..scenes.config import load_config

    out = []
    for what, path, loader in (("config", config, load_config), ("catalog", catalog, load_catalog)):
        try:
            out.append(loader(path))
        except ConfigError as e:
            raise UserError(str(e)) from None
        except UnicodeDecodeError as e:
            raise UserError(f"{path or 'the default ' + what}: not UTF-8 text (byte offset {e.start}); expected a "
                            f"UTF-8 YAML {what} file") from None
        except OSError as e:
            raise UserError(f"{e.filename or path}: cannot be read ({e.strerror or e})") from None
    return out[0], out[1]


def check_before_writing(out: Path, cfg, catalog, seed: int, indices) -> None:
    """The checks ``synth plan`` and ``synth render`` run before they write anything: the first scene of
    ``indices`` can be sampled with this config and catalog (a config no scene satisfies fails here, not after
    ``synth_run.json`` was written), and ``out`` can be written (a probe file, :func:`synth.core.output_space.
    check_writable`).

    Raises:
        UserError: the sampler's or the file system's message.
    """
    from ..core.output_space import OutputSpaceError, check_writable
    from ..scenes.sampling import SamplingError, sample_scene

    try:
        if len(indices):
            sample_scene(cfg, catalog, seed, indices[0])
        check_writable(out)
    except (SamplingError, OutputSpaceError) as e:
        raise UserError(str(e)) from None
