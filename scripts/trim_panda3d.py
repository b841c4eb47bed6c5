"""Trim the official Panda3D wheel to what headless (EGL) rendering uses, for the offline ``render`` wheelhouse.

    python scripts/trim_panda3d.py panda3d-1.10.16-cp312-cp312-manylinux2014_x86_64.whl OUT_DIR

Writes ``OUT_DIR/<same file name>``: a valid wheel (``RECORD`` rewritten: dropped files removed, changed files
re-hashed) without

* audio: the OpenAL plugin and ``models/audio``;
* physics: Bullet, ODE and Panda's particle physics (libraries and their Python modules);
* the FFmpeg plugin (movie textures; ``synth`` encodes with PyAV, not through Panda3D);
* tools: ``panda3d_tools/`` (egg2bam, interrogate, ...), ``deploy_libs/`` and ``direct/dist`` (the deployment
  tools), ``pandac/input`` (interrogate databases);
* the software renderer (``libp3tinydisplay``: needs X11; headless rendering goes through ``p3headlessgl``),
  Assimp (``synth`` loads glTF through panda3d-gltf, egg and bam natively), webcam (``vision``) and VRPN;

and with ``etc/Config.prc`` no longer naming the dropped audio plugin. Kept: everything ``libpanda`` links
(``libCg`` included), ``p3headlessgl`` and ``pandagl``, the Python modules of ``panda3d`` / ``direct``, the sample
models the embedded catalog uses (``models/``: panda, meadow, their textures, fonts) and every licence file
(``*.dist-info/LICENSE.txt``, ``panda3d/LICENSE``-style files are never matched by a drop rule).

Exit status: 0, or 2 with one message when the input is not a Panda3D wheel.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import sys
import zipfile
from pathlib import Path

#: members dropped (regular expressions on the path inside the wheel)
DROP = [
    r"panda3d/libp3openal_audio\.so$", r"panda3d/libp3fmod_audio\.so$", r"panda3d/models/audio/",
    r"panda3d/libpandabullet\.so[.0-9]*$", r"panda3d/bullet\.cpython-[^/]*\.so$",
    r"panda3d/libpandaode\.so[.0-9]*$", r"panda3d/ode\.cpython-[^/]*\.so$",
    r"panda3d/libpandaphysics\.so[.0-9]*$", r"panda3d/physics\.cpython-[^/]*\.so$",
    r"panda3d/libp3ffmpeg\.so$",
    r"panda3d/libp3tinydisplay\.so$", r"panda3d/libp3assimp\.so$",
    r"panda3d/libp3vision\.so[.0-9]*$", r"panda3d/vision\.cpython-[^/]*\.so$",
    r"panda3d/libp3vrpn\.so[.0-9]*$", r"panda3d/vrpn\.cpython-[^/]*\.so$",
    r"panda3d_tools/", r"deploy_libs/", r"pandac/input/", r"direct/dist/",
]
#: never dropped, whatever matches above
KEEP = re.compile(r"(^|/)(LICENSE|LICENCE|COPYING|NOTICE)[^/]*$|\.dist-info/", re.I)
_DROP = re.compile("|".join(f"(?:^{p})" for p in DROP))


def dropped(name: str) -> bool:
    """Whether the wheel member ``name`` is left out of the trimmed wheel."""
    return bool(_DROP.search(name)) and not KEEP.search(name)


def _config_prc(text: str) -> str:
    """``etc/Config.prc`` without the dropped plugins (the audio library set to ``null``)."""
    return re.sub(r"(?m)^audio-library-name\s+\S+", "audio-library-name null", text)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def trim(src: Path, out_dir: Path) -> Path:
    """Write the trimmed copy of the wheel ``src`` into ``out_dir`` (same file name); returns its path."""
    if not (src.name.startswith("panda3d-") and src.suffix == ".whl"):
        raise ValueError(f"{src}: expected an official panda3d-*.whl")
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / src.name
    tmp = dst.with_name(dst.name + ".part")
    rows = []
    record_name = None
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            name = info.filename
            if name.endswith(".dist-info/RECORD"):
                record_name = name
                continue
            if dropped(name):
                continue
            data = zin.read(info)
            if name == "panda3d/etc/Config.prc":
                data = _config_prc(data.decode()).encode()
            zi = zipfile.ZipInfo(name, date_time=info.date_time)
            zi.external_attr, zi.compress_type = info.external_attr, zipfile.ZIP_DEFLATED
            zout.writestr(zi, data)
            if not name.endswith("/"):
                rows.append((name, _record_hash(data), str(len(data))))
        if record_name is None:
            raise ValueError(f"{src}: no .dist-info/RECORD (not a wheel)")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerows(rows + [(record_name, "", "")])
        zout.writestr(record_name, buf.getvalue())
    tmp.replace(dst)
    return dst


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: trim_panda3d.py PANDA3D_WHEEL OUT_DIR", file=sys.stderr)
        return 2
    src = Path(args[0])
    if not src.is_file():
        print(f"trim_panda3d: {src}: no such wheel", file=sys.stderr)
        return 2
    try:
        dst = trim(src, Path(args[1]))
    except (ValueError, zipfile.BadZipFile) as e:
        print(f"trim_panda3d: {e}", file=sys.stderr)
        return 2
    print(f"trim_panda3d: {src.stat().st_size / 2**20:.1f} MiB -> {dst.stat().st_size / 2**20:.1f} MiB: {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
