#!/usr/bin/env bash
# Offline wheelhouse for GPU nodes that reach no package index.
#
#   bash scripts/wheelhouse.sh PROFILE DIR [--python-version 3.12] [--max-mib 48]
#   # copy DIR and the repository to the node, then there:   bash scripts/setup.sh --offline DIR
#
# Downloads (on a machine with index access) the wheels this project needs BEYOND a CUDA PyTorch image
# (Python 3.12, torch, numpy, scipy, lightning, transformers, accelerate, safetensors, opencv, pillow, rich, typer
# and what those depend on: IMAGE_HAS below), for CPython manylinux x86_64, binary wheels only:
#   recam   recam infer / train / the GPU check: diffusers, av, pydantic, omegaconf, ftfy (no panda3d, no pycolmap)
#   render  the embedded renderer: panda3d TRIMMED by scripts/trim_panda3d.py (no audio, physics, ffmpeg plugin,
#           tools; licences kept), panda3d-gltf, pygltflib, OpenEXR, unrealcv, pydantic (no diffusers/transformers)
#   encode  PyAV alone (H.264 / NVENC encoding of rendered frames; too large to share a profile with render)
# Every profile also holds setuptools (the offline editable install of this project builds with it).
# Writes DIR/requirements.txt (what setup.sh --offline installs) and DIR/PROFILE; fails (exit 1) when the
# profile's wheels exceed --max-mib MiB (default 48: the profile and the ~15 MiB repository travel together in one
# 64 MiB transfer). Bad usage: exit 2. Not included on purpose: pycolmap (synth verify / recam eval's pose
# estimation: 36 MiB), anny + warp (synth assets build: build the asset cache where the index is reachable),
# scikit-image / matplotlib (recam eval metrics and plots), deepspeed.
set -euo pipefail
usage() { echo "usage: bash scripts/wheelhouse.sh recam|render|encode DIR [--python-version X.Y] [--max-mib N]" >&2; exit 2; }
[ $# -ge 2 ] || usage
profile=$1 dir=$2; shift 2
pyver=3.12 max_mib=48
while [ $# -gt 0 ]; do
  case $1 in
    --python-version) [ $# -ge 2 ] || usage; pyver=$2; shift 2 ;;
    --max-mib) [ $# -ge 2 ] || usage; max_mib=$2; shift 2 ;;
    *) echo "wheelhouse.sh: unknown option $1" >&2; usage ;;
  esac
done
[[ $pyver =~ ^3\.[0-9]+$ ]] || { echo "wheelhouse.sh: --python-version: expected 3.N, got '$pyver'" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}

common="pydantic>=2.6 setuptools>=64"
case $profile in
  recam)  reqs="diffusers==0.42.* av>=12 ftfy>=6 omegaconf>=2.3 importlib_metadata $common" ;;
  render) reqs="panda3d==1.10.16 panda3d-gltf>=1.2 pygltflib>=1.16 OpenEXR>=3.2 unrealcv>=1.3 $common" ;;
  encode) reqs="av>=12" ;;
  *) echo "wheelhouse.sh: PROFILE: expected recam, render or encode, got '$profile'" >&2; exit 2 ;;
esac
# Distributions the image already has (never downloaded into DIR: installing them could replace the image's torch
# or numpy). Names normalised as PEP 503 (lower case, runs of -_. as -).
IMAGE_HAS="torch numpy scipy lightning pytorch-lightning lightning-utilities torchmetrics transformers tokenizers
huggingface-hub hf-xet safetensors accelerate psutil opencv-python opencv-python-headless opencv-contrib-python
pillow rich markdown-it-py mdurl pygments typer typer-slim click shellingham typing-extensions filelock fsspec jinja2
markupsafe sympy mpmath networkx packaging pyyaml regex tqdm aiohttp aiosignal aiohappyeyeballs attrs frozenlist
multidict propcache yarl triton setuptools-scm"
# (small pure-Python libraries the image may or may not have, e.g. requests, are kept: pip skips them when present)

abi=cp${pyver/./}
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
mkdir -p "$dir"
# shellcheck disable=SC2086
"$PY" -m pip download -q --only-binary=:all: --python-version "$pyver" --implementation cp --abi "$abi" \
  --abi abi3 --abi none --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d "$raw" $reqs \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"$PY" - "$raw" "$dir" "$profile" "$here/trim_panda3d.py" "$IMAGE_HAS" "$reqs" "$max_mib" <<'EOF'
import re, shutil, subprocess, sys
from pathlib import Path
raw, out, profile, trim, image_has, reqs, max_mib = sys.argv[1:]
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
skip = {norm(n) for n in image_has.split()}
kept = []
for whl in sorted(Path(raw).glob("*.whl")):
    name = norm(whl.name.split("-")[0])
    if name in skip:
        continue
    if name == "panda3d":
        subprocess.run([sys.executable, trim, str(whl), out], check=True)
    else:
        shutil.copy2(whl, Path(out) / whl.name)
    kept.append(name)
Path(out, "requirements.txt").write_text("\n".join(r for r in reqs.split() if not r.startswith("setuptools")) + "\n")
Path(out, "PROFILE").write_text(profile + "\n")
wheels = sorted(Path(out).glob("*.whl"))
mib = sum(w.stat().st_size for w in wheels) / 2 ** 20
for w in wheels:
    print(f"  {w.stat().st_size / 2 ** 20:6.1f} MiB  {w.name}")
print(f"wheelhouse {profile}: {len(wheels)} wheels, {mib:.1f} MiB in {out}")
if mib > float(max_mib):
    print(f"wheelhouse.sh: profile {profile} is {mib:.1f} MiB, more than --max-mib {max_mib}", file=sys.stderr)
    sys.exit(1)
EOF
