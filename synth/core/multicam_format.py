"""The MultiCamVideo dataset format (ReCamMaster, REFERENCE §1): camera JSON, ``metadata.csv``, ``scene.json``.

Names of every file and folder: :mod:`synth.core.layout`. ``camera_extrinsics.json`` is written only here
(:func:`write_camera_extrinsics`), ``scene.json`` read and written only here (:func:`read_scene_spec`,
:func:`write_scene_files`). Upstream's ReCamMaster code reads these files unchanged (it ignores our ``scene.json``
and ``synth_run.json``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .atomic import atomic_write_text
from .fmatrix_text import FMatrixParseError, format_fmatrix, parse_fmatrix, parse_fmatrix_strict
from .unreal import fmatrix_to_c2w
from .intrinsics import intrinsics_from_focals
from .layout import CAMERA_INTRINSICS_JSON, CAMERA_JSON, CAMERA_RE, SCENE_JSON, SCENE_RE, TRAIN_DIR
from .scene_spec import SceneSpec, SceneSpecError

_FRAME_RE = re.compile(r"^frame(\d+)$")


class DatasetFormatError(ValueError):
    """A dataset file does not follow the MultiCamVideo format. The message names the file and the field."""


class DuplicateKeyError(ValueError):
    """A JSON object repeats a key (``json`` would silently keep the last copy)."""


def _no_duplicate_keys(pairs: List[Tuple[str, object]]) -> Dict[str, object]:
    """``object_pairs_hook`` of every reader here: a JSON object with a repeated key (two ``"frame3"``, two
    ``"cam01"``) is refused instead of the last copy silently winning."""
    out: Dict[str, object] = {}
    for k, v in pairs:
        if k in out:
            raise DuplicateKeyError(f"duplicate key {k!r} (each key must appear once in an object)")
        out[k] = v
    return out


def loads_json_strict(text: str):
    """``json.loads`` that refuses repeated keys in any object (:class:`DuplicateKeyError`); the values are left to
    the callers' checks."""
    return json.loads(text, object_pairs_hook=_no_duplicate_keys)


__all__ = [
    "DatasetFormatError",
    "DuplicateKeyError",
    "loads_json_strict",
    "write_camera_extrinsics",
    "read_camera_fmatrices",
    "write_camera_intrinsics",
    "INTRINSICS_FORMAT",
    "read_camera_array",
    "load_camera_extrinsics",
    "MetadataRow",
    "format_metadata_csv",
    "read_metadata_csv",
    "iter_scene_dirs",
    "read_scene_spec",
    "write_scene_files",
]

# ------------------------------------------------------------------------------------------------------------------
# camera_extrinsics.json
# ------------------------------------------------------------------------------------------------------------------


def write_camera_extrinsics(path: Path, fmatrices: Mapping[str, np.ndarray]) -> None:
    """Write ``camera_extrinsics.json`` in upstream's exact format (4-space indent, frame-major), atomically.

    Args:
        path: destination file.
        fmatrices: camera name (``camNN``) -> ``(F, 4, 4)`` Unreal FMatrix per frame (rows forward, right, up,
            location cm). All cameras must have the same F.

    Raises:
        ValueError: cameras with different frame counts or non-finite values.
    """
    strings = {}
    for n, mats in fmatrices.items():
        mats = np.asarray(mats, dtype=np.float64)
        if not np.all(np.isfinite(mats)):
            raise ValueError(f"{path}: camera {n} has non-finite values")
        strings[n] = [format_fmatrix(m) for m in mats]
    counts = {len(v) for v in strings.values()}
    if len(counts) != 1:
        raise ValueError(f"{path}: all cameras need the same number of frames, got {sorted(counts)}")
    (num_frames,) = counts
    data = {f"frame{f}": {n: strings[n][f] for n in strings} for f in range(num_frames)}
    atomic_write_text(path, json.dumps(data, indent=4) + "\n")


def _byte_table(chars: bytes) -> np.ndarray:
    t = np.zeros(256, dtype=bool)
    t[list(chars)] = True
    return t


_NUMBER_BYTES = b"0123456789-.e+"
_ALLOWED_BYTES = _NUMBER_BYTES + b"[] "
_DIGIT = _byte_table(b"0123456789")
_ROW_SPECIALS = np.frombuffer(b"[   ] ", np.uint8)  # the brackets and spaces of one row "[a b c d] "


def _batch_numbers(strings: Sequence[str]) -> Optional[np.ndarray]:
    """All numbers of matrix strings that each follow the exact ``FMatrix::ToString()`` grammar (finite numbers as
    ``%g`` writes them), as ``(len(strings), 16)`` float64; None if any string deviates (the caller then parses
    them one by one to name the first problem).

    The grammar is checked on the bytes of all strings at once with numpy: only ``[0-9.e+-]``, brackets and single
    spaces; brackets and spaces exactly ``"[   ] "`` per row, four rows per string; ``-`` only at a number's
    start or after ``e``; ``+`` only after ``e``; ``.`` between digits; ``e`` after a digit and before a sign and
    two digits. Python's ``float`` (through numpy) converts the numbers, so the result is bit-identical to
    :func:`synth.core.fmatrix_text.parse_fmatrix`, and anything else ``float`` refuses (``1.2.3``) falls back too.
    """
    if not strings or not all(type(t) is str for t in strings):  # noqa: E721 - exact str
        return None
    blob = "".join(strings)
    try:
        raw = blob.encode("ascii")
    except UnicodeEncodeError:
        return None
    if raw.translate(None, _ALLOWED_BYTES):  # anything left is a character the grammar does not allow
        return None
    u = np.frombuffer(raw, np.uint8)
    n = len(strings)
    pos = np.flatnonzero((u == 32) | (u == 91) | (u == 93))  # ' ', '[', ']'
    if len(pos) != 24 * n or pos[-1] != len(u) - 1:
        return None
    if not (u[pos].reshape(-1, 6) == _ROW_SPECIALS).all():
        return None
    gaps = np.append(np.diff(pos), 1).reshape(-1, 6)
    if not ((gaps[:, :4] >= 2).all() and (gaps[:, 4:] == 1).all()):
        return None
    starts = np.cumsum([0] + [len(t) for t in strings[:-1]])
    if not np.array_equal(pos[::24], starts):  # every string holds exactly its own four rows
        return None
    padded = np.concatenate([u, np.zeros(4, np.uint8)])
    p = np.flatnonzero(u == ord("-"))
    if len(p) and not np.isin(padded[p - 1], np.frombuffer(b"[ e", np.uint8)).all():
        return None
    p = np.flatnonzero(u == ord("+"))
    if len(p) and not (padded[p - 1] == ord("e")).all():
        return None
    p = np.flatnonzero(u == ord("."))
    if len(p) and not (_DIGIT[padded[p - 1]].all() and _DIGIT[padded[p + 1]].all()):
        return None
    p = np.flatnonzero(u == ord("e"))
    if len(p) and not (_DIGIT[padded[p - 1]].all() and np.isin(padded[p + 1], np.frombuffer(b"+-", np.uint8)).all()
                       and _DIGIT[padded[p + 2]].all() and _DIGIT[padded[p + 3]].all()):
        return None
    try:
        nums = np.array(blob.translate(_STRIP_BRACKETS).split(), dtype=np.float64)
    except ValueError:
        return None
    return nums.reshape(n, 16) if nums.size == 16 * n else None


_STRIP_BRACKETS = str.maketrans("[]", "  ")


def _load_camera_json(path: Path):
    """The parsed JSON object of a camera file, its frame keys in order and its camera names (sorted camNN)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found (expected cameras/camera_extrinsics.json)") from None
    except IsADirectoryError:
        raise DatasetFormatError(f"{path}: is a folder; expected the camera JSON file") from None
    except OSError as e:
        raise DatasetFormatError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        data = loads_json_strict(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise DatasetFormatError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                                 f"expected a UTF-8 JSON file") from None
    except DuplicateKeyError as e:
        raise DatasetFormatError(f"{path}: {e}") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise DatasetFormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not data:
        raise DatasetFormatError(f"{path}: expected an object {{'frame0': {{'cam01': '<matrix>', ...}}, ...}}")
    frames = {}
    for key in data:
        m = _FRAME_RE.match(key)
        if not m:
            raise DatasetFormatError(f"{path}: unexpected key {key!r}; expected 'frame<N>'")
        frames[int(m.group(1))] = key
    n = len(frames)
    if sorted(frames) != list(range(n)):
        missing = sorted(set(range(max(frames) + 1)) - set(frames))
        raise DatasetFormatError(f"{path}: frames must be frame0..frame{n - 1}; missing {missing[:5]}")
    cams0 = data[frames[0]]
    if not isinstance(cams0, dict) or not cams0:
        raise DatasetFormatError(f"{path}: frame0 must map camera names to matrix strings")
    names = sorted(cams0, key=lambda c: (int(CAMERA_RE.match(c).group(1)) if CAMERA_RE.match(c) else 10**9, c))
    keys = [frames[f] for f in range(n)]
    for f, key in enumerate(keys):
        row = data[key]
        if not isinstance(row, dict):
            raise DatasetFormatError(f"{path}: frame{f} must be an object of camera matrices")
        if row.keys() != cams0.keys():
            raise DatasetFormatError(f"{path}: frame{f} has cameras {sorted(row)}, frame0 has {names}")
    return data, keys, names


def read_camera_array(path: Path | str, strict: bool = False) -> Tuple[List[str], np.ndarray]:
    """Read ``camera_extrinsics.json`` in one batch -> (camera names, ``(C, F, 4, 4)`` FMatrix float64).

    All matrix strings of the file are checked against the exact ``FMatrix::ToString()`` grammar in one vectorised
    pass over their bytes and their numbers converted in one call (:func:`_batch_numbers`; bit-identical to
    :func:`synth.core.fmatrix_text.parse_fmatrix`). Only when that fast path fails are the strings parsed one by one,
    so a malformed file gives exactly the per-matrix parser's message, naming the first bad frame and camera.

    Args:
        path: the camera JSON.
        strict: ``True`` (``synth validate``) rejects anything but the exact grammar (commas, tabs, double
            spaces, a missing trailing space: upstream's ``parse_matrix`` cannot read them all);
            ``False`` (readers) accepts what :func:`parse_fmatrix` tolerates.

    Raises:
        DatasetFormatError: unreadable or non-UTF-8 file, invalid JSON, frames not ``frame0..frame{F-1}``, a camera
            missing from a frame, or a matrix string that does not parse; the message names file, frame, camera.
    """
    path = Path(path)
    data, keys, names = _load_camera_json(path)
    strings = [data[k][c] for k in keys for c in names]
    n, c = len(keys), len(names)
    nums = _batch_numbers(strings)
    if nums is None:  # slow path: the per-matrix parser finds the first problem (or parses tolerated spellings)
        parse = parse_fmatrix_strict if strict else parse_fmatrix
        out = np.empty((n, c, 4, 4))
        for i, t in enumerate(strings):
            try:
                out[i // c, i % c] = parse(t)
            except FMatrixParseError as e:
                raise DatasetFormatError(f"{path}: frame{i // c} {names[i % c]}: {e}") from None
    else:
        out = nums.reshape(n, c, 4, 4)
    return names, np.ascontiguousarray(out.transpose(1, 0, 2, 3))


def read_camera_fmatrices(path: Path | str, strict: bool = False) -> Dict[str, np.ndarray]:
    """Read ``camera_extrinsics.json`` -> camera name -> ``(F, 4, 4)`` FMatrix (Unreal rows, cm), frames in order.

    Batched (see :func:`read_camera_array`); ``strict`` as there.

    Raises:
        DatasetFormatError: unreadable JSON, frames not ``frame0..frame{F-1}``, a camera missing from a frame, or a
            matrix string that does not parse; the message names the file, frame and camera.
    """
    names, arr = read_camera_array(path, strict)
    return {c: arr[i] for i, c in enumerate(names)}


def load_camera_extrinsics(path: Path | str) -> Dict[str, np.ndarray]:
    """Read ``camera_extrinsics.json`` -> camera name -> ``(F, 4, 4)`` OpenCV c2w in metres (upstream's conversion).

    World axes are Unreal's (left-handed, so ``det(R) = -1``); see :mod:`synth.core.unreal`.

    Raises:
        DatasetFormatError: see :func:`read_camera_fmatrices`.
    """
    return {c: fmatrix_to_c2w(m) for c, m in read_camera_fmatrices(path).items()}


# ------------------------------------------------------------------------------------------------------------------
# metadata.csv
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetadataRow:
    """One ``metadata.csv`` row: ``file_name`` relative to ``train/`` (upstream) and its caption ``text``."""

    file_name: str
    text: str


def format_metadata_csv(rows: Iterable[MetadataRow]) -> str:
    """``file_name,text`` with the text always double-quoted, as upstream's example metadata."""
    out = io.StringIO()
    out.write("file_name,text\n")
    for r in rows:
        if "\n" in r.text or "\r" in r.text:
            raise ValueError(f"caption for {r.file_name} contains a line break")
        name = r.file_name
        if any(ch in name for ch in ',"\n'):
            name = '"' + name.replace('"', '""') + '"'
        out.write(f'{name},"{r.text.replace(chr(34), chr(34) * 2)}"\n')
    return out.getvalue()


def read_metadata_csv(path: Path | str) -> List[MetadataRow]:
    """Read a ``metadata.csv`` with columns ``file_name,text`` (extra columns are ignored).

    UTF-8, with or without a byte-order mark (pandas' ``read_csv``, which upstream uses, accepts both).

    Raises:
        DatasetFormatError: missing file, not UTF-8 (names the byte offset), malformed CSV, missing columns, or an
            empty ``file_name`` (names the line).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found (expected metadata.csv with columns file_name,text)"
                                 ) from None
    except IsADirectoryError:
        raise DatasetFormatError(f"{path}: is a folder; expected metadata.csv with columns file_name,text") from None
    except OSError as e:
        raise DatasetFormatError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise DatasetFormatError(f"{path}:{line}: not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                                 f"expected a UTF-8 CSV with columns file_name,text (re-save it as UTF-8)") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)  # an unclosed quote must not eat the file
    try:
        fields = reader.fieldnames
        if fields is None or not {"file_name", "text"} <= set(fields):
            raise DatasetFormatError(f"{path}: header must contain file_name,text; got {fields}")
        rows = []
        for r in reader:
            i = reader.line_num
            name, caption = r.get("file_name"), r.get("text")
            if not name:
                raise DatasetFormatError(f"{path}:{i}: field file_name is empty; expected "
                                         f"<lens>/scene<N>/videos/camNN.mp4")
            rows.append(MetadataRow(name, caption or ""))
    except csv.Error as e:
        raise DatasetFormatError(f"{path}:{reader.line_num + 1}: malformed CSV in the record starting on this line "
                                 f"({e}); expected file_name,\"text\" with quotes closed") from None
    return rows


# ------------------------------------------------------------------------------------------------------------------
# Walking a dataset.
# ------------------------------------------------------------------------------------------------------------------


def iter_scene_dirs(root: Path | str, split: str = TRAIN_DIR) -> Iterator[Path]:
    """Scene folders ``<root>/<split>/<lens>/scene<N>`` in (lens, N) order; hidden/temporary folders skipped."""
    base = Path(root) / split
    if not base.is_dir():
        return
    for lens in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        scenes = [p for p in lens.iterdir() if p.is_dir() and SCENE_RE.match(p.name)]
        yield from sorted(scenes, key=lambda p: int(SCENE_RE.match(p.name).group(1)))


# ------------------------------------------------------------------------------------------------------------------
# camera_intrinsics.json (ours; read by synth.core.intrinsics_file)
# ------------------------------------------------------------------------------------------------------------------

#: ``format`` of ``cameras/camera_intrinsics.json`` (docs/dataset.md)
INTRINSICS_FORMAT = "synth-camera-intrinsics"


def write_camera_intrinsics(path: Path, focal_mm: Mapping[str, np.ndarray], sensor_mm: float, width: int,
                            height: int) -> None:
    """Write ``cameras/camera_intrinsics.json`` atomically: per frame and camera the focal length (mm) and
    ``fx, fy, cx, cy`` in pixels (``synth.core.intrinsics`` convention: continuous pixels, ``cx = W/2``), frame-major
    like ``camera_extrinsics.json``::

        {"format": "synth-camera-intrinsics", "version": 1, "width": W, "height": H, "sensor_mm": 23.76,
         "frame0": {"cam01": {"focal_length_mm": 24.0, "fx": 1292.93, "fy": 1292.93, "cx": 640.0, "cy": 640.0}, ...},
         ...}

    Args:
        focal_mm: camera name -> ``(F,)`` focal length per frame, mm (the same F for every camera).

    Raises:
        ValueError: cameras with different frame counts, or non-positive / non-finite values.
    """
    f = {n: np.asarray(v, np.float64).reshape(-1) for n, v in focal_mm.items()}
    counts = {len(v) for v in f.values()}
    if len(counts) != 1:
        raise ValueError(f"{path}: all cameras need the same number of frames, got {sorted(counts)}")
    K = {n: intrinsics_from_focals(v, sensor_mm, width, height) for n, v in f.items()}
    data: Dict[str, object] = {"format": INTRINSICS_FORMAT, "version": 1, "width": int(width), "height": int(height),
                               "sensor_mm": float(sensor_mm)}
    for i in range(counts.pop()):
        data[f"frame{i}"] = {n: {"focal_length_mm": round(float(f[n][i]), 6), "fx": round(float(K[n][i, 0, 0]), 6),
                                 "fy": round(float(K[n][i, 1, 1]), 6), "cx": float(K[n][i, 0, 2]),
                                 "cy": float(K[n][i, 1, 2])} for n in f}
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


# ------------------------------------------------------------------------------------------------------------------
# scene.json (ours) and the files of a planned scene.
# ------------------------------------------------------------------------------------------------------------------


def read_scene_spec(scene_dir: Path | str) -> SceneSpec:
    """The typed ``scene.json`` of a scene folder.

    Raises:
        FileNotFoundError: no ``scene.json`` (an official MultiCamVideo scene has none).
        DatasetFormatError: unreadable JSON or a malformed field (named, with the file).
    """
    path = Path(scene_dir) / SCENE_JSON
    try:
        data = loads_json_strict(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except DuplicateKeyError as e:
        raise DatasetFormatError(f"{path}: {e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetFormatError(f"{path}: not valid JSON ({e})") from None
    try:
        return SceneSpec.from_json(data, str(path))
    except SceneSpecError as e:
        raise DatasetFormatError(str(e)) from None


def write_scene_files(scene_dir: Path | str, spec: SceneSpec) -> None:
    """Write a scene's ``cameras/camera_extrinsics.json`` (the quantised poses renderers draw), for a scene whose
    cameras zoom ``cameras/camera_intrinsics.json`` (per-frame focal lengths), and ``scene.json``, each atomically.
    A scene with the fixed lens writes no intrinsics file (upstream's layout, unchanged)."""
    scene_dir = Path(scene_dir)
    write_camera_extrinsics(scene_dir / CAMERA_JSON, spec.camera_fmatrices())
    if spec.zooms:
        write_camera_intrinsics(scene_dir / CAMERA_INTRINSICS_JSON, dict(zip(spec.camera_names(),
                                                                              spec.focal_lengths_mm())),
                                spec.lens.sensor_mm, spec.video.width, spec.video.height)
    atomic_write_text(scene_dir / SCENE_JSON, json.dumps(spec.to_json(), indent=1) + "\n")


