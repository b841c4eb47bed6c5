"""Reading ``.npz`` files that hold object arrays (RealCam-Vid's index: an array of dicts) without running code.

``np.load(..., allow_pickle=True)`` unpickles whatever the file holds, and a pickle can call any importable
function: a downloaded index could run code on the training cluster. Here the pickle inside an object array is
read by an :class:`pickle.Unpickler` whose ``find_class`` allows only what numpy needs to rebuild arrays,
dtypes and numpy scalars (plain containers, strings and numbers need no class); anything else is refused with a
:class:`UnsafePickleError` naming the file and the global, before anything is called.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Dict

import numpy as np

__all__ = ["UnsafePickleError", "load_npz_safe", "ALLOWED_GLOBALS"]

#: ``(module, name)`` pairs a numpy object-array pickle may reference (numpy 1.x and 2.x module paths).
ALLOWED_GLOBALS = frozenset({
    *((m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")),
    *((m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles
})


class UnsafePickleError(ValueError):
    """A data file's pickle references something other than numpy arrays and plain containers."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, f, where: str):
        super().__init__(f)
        self.where = where

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(f"{self.where}: refused to unpickle {module}.{name} (only numpy arrays, numbers, "
                                    f"strings, lists and dicts are read from data files; this file may be "
                                    f"malicious or not what it claims to be)")
        return super().find_class(module, name)


def _read_member(f, where: str) -> np.ndarray:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if not dtype.hasobject:
            count = int(np.prod(shape, dtype=np.int64))
            data = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype, count=count)
            return data.reshape(shape[::-1]).transpose() if fortran else data.reshape(shape)
    except (ValueError, TypeError, EOFError, SyntaxError) as e:  # numpy's header parser raises these
        raise ValueError(f"{where}: not a valid .npy member ({type(e).__name__}: {e})") from None
    try:
        arr = _NumpyOnlyUnpickler(f, where).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # a damaged pickle raises many types
        raise ValueError(f"{where}: unreadable object array ({type(e).__name__}: {e})") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{where}: expected an array, the pickle holds a {type(arr).__name__}")
    return arr


def load_npz_safe(path: Path | str) -> Dict[str, np.ndarray]:
    """All arrays of an ``.npz`` (``np.savez`` output), object arrays included, without executing code.

    Returns:
        name (``arr_0``, ...) -> array; object arrays hold what numpy arrays, numbers, strings, lists and dicts
        the file pickled.

    Raises:
        FileNotFoundError: no such file. UnsafePickleError: a pickle references anything else (named).
        ValueError: not an npz, or a damaged member (named).
    """
    path = Path(path)
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if not name.endswith(".npy"):
                    continue
                with z.open(name) as f:
                    out[name[:-4]] = _read_member(io.BufferedReader(f), f"{path}[{name[:-4]}]")
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: not an .npz archive ({e})") from None
    return out
