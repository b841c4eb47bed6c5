"""Regenerate the screenshots of docs/studio.md: both studios in headless chromium (selenium + chromedriver).

    python scripts/studio_screenshots.py [--video V] [--dataset D] --out docs/
recam studio: a synthetic room (tests/studio_scene.py) unless --video is given; synth studio: a freshly planned
1-scene dataset unless --dataset is given.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _driver(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    o = webdriver.ChromeOptions()
    o.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--use-gl=angle", "--use-angle=swiftshader",
              "--enable-unsafe-swiftshader", f"--window-size={width},{height}", "--disable-dev-shm-usage"):
        o.add_argument(a)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=o)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shoot(server, drv, out: Path, wait: float = 60.0) -> None:
    import numpy as np
    from PIL import Image

    port = server.get_port()
    drv.get(f"http://127.0.0.1:{port}")
    t0 = time.time()
    while not server.get_clients() and time.time() - t0 < 30:
        time.sleep(0.1)
    tmp = out.with_suffix(".raw.png")
    prev, t0 = None, time.time()
    while time.time() - t0 < wait:  # until the scene's fade-in is over: two equal screenshots in a row
        time.sleep(1.0)
        drv.save_screenshot(str(tmp))
        img = Image.open(tmp).convert("RGB")
        if prev is not None and np.abs(np.asarray(img, int) - prev).mean() < 0.05:
            break
        prev = np.asarray(img, int)
    img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.LANCZOS).quantize(128)
    img.save(out, optimize=True)
    tmp.unlink()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path)
    ap.add_argument("--dataset", type=Path)
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    a = ap.parse_args(argv)
    import numpy as np
    import viser
    from scipy.spatial.transform import Rotation

    sys.path.insert(0, str(REPO / "tests"))
    from recam.studio.app import RecamStudio
    from synth.studio.app import SynthStudio
    from synth.studio.scenes import list_scenes

    drv = _driver(1280, 800)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            server = viser.ViserServer(host="127.0.0.1", port=_port(), verbose=False)
            if a.video:
                from recam.studio.source import load_source
                src, video = load_source(a.video, num_frames=33), a.video
            else:
                from studio_scene import synthetic_source
                src, video = synthetic_source(33, 4, (192, 128)), Path("synthetic_room.mp4")
            app = RecamStudio(server, src, video, Path(tmp))
            c = np.eye(4)
            c[:3, :3] = Rotation.from_euler("YXZ", [-25, 5, 0], degrees=True).as_matrix()
            c[:3, 3] = [1.2, -0.3, 0.6]
            app.state.add(src.num_frames // 2, c)
            app.selected = 1
            app.gui_frame.value = src.num_frames // 2
            app.redraw()
            server.initial_camera.position = (-2.4, -2.8, -3.4)
            server.initial_camera.look_at = (0.6, 0.0, 2.5)
            server.initial_camera.up = (0.0, -1.0, 0.0)
            _shoot(server, drv, a.out / "studio_recam.png")
            server.stop()
            root = a.dataset
            if root is None:
                from typer.testing import CliRunner
                from synth.cli import app as synth_app
                root = Path(tmp) / "ds"
                CliRunner().invoke(synth_app, ["plan", "--scenes", "1", "--out", str(root)])
            server = viser.ViserServer(host="127.0.0.1", port=_port(), verbose=False)
            studio = SynthStudio(server, root, list_scenes(root))
            studio.gui_frame.value = 40
            v = studio.view
            centre = v.character if v.character is not None else np.zeros(3)
            server.initial_camera.position = tuple(centre + [-6.0, -6.0, 5.0])
            server.initial_camera.look_at = tuple(centre + [0, 0, 1.0])
            server.initial_camera.up = (0.0, 0.0, 1.0)
            _shoot(server, drv, a.out / "studio_synth.png")
            server.stop()
    finally:
        drv.quit()
    print(f"wrote {a.out / 'studio_recam.png'} and {a.out / 'studio_synth.png'}")


if __name__ == "__main__":
    main()
