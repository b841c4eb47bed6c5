"""CC0 Poly Haven HDRI skies from the npm package ``@pmndrs/assets`` (``hdri/*.exr.js``: base64 OpenEXR, 512x256,
DWAB-compressed), fetched with ``npm pack`` at asset-build time and decoded into ``<cache>/hdri/<name>.exr``.

Each becomes an image-lit environment of the embedded catalog: the HDRI on a sky dome and in the image-based
lighting, a large ground plane with a PBR material and contact shadows, the sun's direction from the HDRI's
brightest region (:func:`synth.render.embedded.ibl.sun_from_map`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

__all__ = ["NPM_PACKAGE", "NPM_VERSION", "HDRI_ENVIRONMENTS", "fetch_package", "extract_hdris"]

NPM_PACKAGE = "@pmndrs/assets"
NPM_VERSION = "1.7.0"
LICENCE = "CC0-1.0"

#: npm file stem -> (environment id, description, ground surface kind)
HDRI_ENVIRONMENTS: Dict[str, Tuple[str, str, str]] = {
    "city": ("hdri_city", "a city square between tall buildings", "concrete"),
    "park": ("hdri_park", "a sunny park", "grass"),
    "forest": ("hdri_forest", "a forest clearing", "grass"),
    "sunset": ("hdri_sunset", "a waterfront square in the late afternoon", "stone"),
    "dawn": ("hdri_dawn", "a valley ringed by mountains at dawn", "grass"),
    "sky": ("hdri_sky", "an open plain under a wide blue sky", "sand"),
    "bridge": ("hdri_bridge", "a plaza under a glass and steel canopy", "concrete"),
    "esplanade": ("hdri_esplanade", "a lamp-lit hotel lobby", "tiles"),
    "sunrise": ("hdri_sunrise", "a meadow at sunrise", "grass"),
    "venice": ("hdri_venice", "a Venetian square", "stone"),
}


class AssetBuildError(RuntimeError):
    """An asset could not be fetched or built (the message says which and why)."""


def fetch_package(work: Path, npm: str = "npm", tarball: Optional[Path] = None) -> Path:
    """The package tarball: ``tarball`` if given (offline builds), else ``npm pack <pkg>@<version>`` into ``work``.

    Raises:
        AssetBuildError: npm missing or failing (no network to the npm registry).
    """
    if tarball is not None:
        if not Path(tarball).is_file():
            raise AssetBuildError(f"{tarball}: npm tarball not found (expected {NPM_PACKAGE}-{NPM_VERSION}.tgz)")
        return Path(tarball)
    if shutil.which(npm) is None:
        raise AssetBuildError(f"npm not found: cannot fetch {NPM_PACKAGE}@{NPM_VERSION} (install Node.js/npm, or "
                              f"pass --npm-tarball)")
    try:
        r = subprocess.run([npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent"], cwd=work, capture_output=True,
                           text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise AssetBuildError(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} timed out") from None
    if r.returncode != 0:
        raise AssetBuildError(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} failed: {r.stderr.strip()[-400:]}")
    files = sorted(Path(work).glob("*.tgz"))
    if not files:
        raise AssetBuildError(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} produced no tarball")
    return files[-1]


_DATA_URL = re.compile(r"data:[\w/+.-]*;base64,([A-Za-z0-9+/=]+)")


def extract_hdris(tarball: Path, dest: Path, names=None) -> List[dict]:
    """Decode ``hdri/<name>.exr.js`` of the tarball into ``dest/<name>.exr`` (validated by reading them back).

    Returns manifest entries (``id, kind, file, source, version, licence, sha256``).

    Raises:
        AssetBuildError: a wanted file is missing from the tarball or is not a base64 EXR data URL.
    """
    from ..render.embedded.ibl import load_hdri

    names = list(names or HDRI_ENVIRONMENTS)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    with tarfile.open(tarball, "r:gz") as tf:
        members = {m.name: m for m in tf.getmembers()}
        for name in names:
            key = f"package/hdri/{name}.exr.js"
            if key not in members:
                raise AssetBuildError(f"{tarball}: {key} not found (expected {NPM_PACKAGE}@{NPM_VERSION})")
            text = tf.extractfile(members[key]).read().decode("ascii", "replace")
            m = _DATA_URL.search(text)
            if m is None:
                raise AssetBuildError(f"{tarball}:{key}: no base64 data URL")
            data = base64.b64decode(m.group(1))
            path = dest / f"{name}.exr"
            path.write_bytes(data)
            load_hdri(path)  # raises HDRIError naming the file if it does not decode
            out.append({"id": HDRI_ENVIRONMENTS.get(name, (f"hdri_{name}",))[0], "kind": "hdri",
                        "file": f"hdri/{name}.exr", "source": f"npm:{NPM_PACKAGE}", "version": NPM_VERSION,
                        "origin": f"Poly Haven (polyhaven.com), {key}", "licence": LICENCE,
                        "sha256": hashlib.sha256(data).hexdigest()})
    return out


def build_hdris(staging: Path, tarball: Optional[Path] = None, npm: str = "npm") -> List[dict]:
    """Fetch and decode every HDRI of :data:`HDRI_ENVIRONMENTS` into ``staging/hdri``."""
    with tempfile.TemporaryDirectory() as work:
        tgz = fetch_package(Path(work), npm, tarball)
        return extract_hdris(tgz, Path(staging) / "hdri")
