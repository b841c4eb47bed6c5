"""``recam studio`` in a real browser: Debian's chromium, headless, driven by selenium through chromedriver.

Opens the page, checks that WebGL drew the scene (software GL), adds a keyframe and exports with the GUI's buttons,
then checks the file with ``recam infer``'s loader and keeps a screenshot. Skipped (with the reason) only when no
chromium / chromedriver is installed (``scripts/setup.sh`` installs Debian's as root).
"""

from __future__ import annotations

import shutil
import socket
import time

import numpy as np
import pytest

pytest.importorskip("viser")
selenium = pytest.importorskip("selenium")

from recam.cameras import load_trajectory  # noqa: E402
from studio_scene import synthetic_source  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
NO_BROWSER = ("no chromium + chromedriver installed (apt-get install chromium chromium-driver; scripts/setup.sh "
              "does it as root)")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (CHROMIUM and DRIVER), reason=NO_BROWSER)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():  # one chromium for the module (its start is seconds on 2 cores)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--use-gl=angle", "--use-angle=swiftshader",
              "--enable-unsafe-swiftshader", "--window-size=1280,800", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield drv
    finally:
        drv.quit()


def click_button(drv, label: str, timeout: float = 20.0) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    btn = WebDriverWait(drv, timeout).until(EC.element_to_be_clickable(
        (By.XPATH, f"//button[.//*[normalize-space(text())='{label}'] or normalize-space(text())='{label}']")))
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", btn)
    btn.click()


def wait_for(cond, timeout: float = 20.0, what: str = "condition") -> None:
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_recam_studio_in_chromium_add_keyframe_export_screenshot(browser, tmp_path):
    import viser
    from PIL import Image

    from recam.studio.app import RecamStudio

    port = free_port()
    server = viser.ViserServer(host="127.0.0.1", port=port, verbose=False)
    try:
        app = RecamStudio(server, synthetic_source(), tmp_path / "clip.mp4", tmp_path)
        browser.get(f"http://127.0.0.1:{port}")
        wait_for(lambda: len(server.get_clients()) > 0, what="the page to connect")
        app.gui_frame.value = 8  # the server moves the slider; the browser shows it
        click_button(browser, "Add keyframe")
        wait_for(lambda: app.state.frames() == [0, 8], what="the keyframe")
        click_button(browser, "Export")
        out = tmp_path / "clip_studio.yaml"
        wait_for(out.exists, what="the export")
        np.testing.assert_allclose(load_trajectory(out, 17), app.state.trajectory(), atol=1e-6)
        shot = tmp_path / "studio.png"

        def drawn() -> bool:  # the 3D view (left of the GUI panel): many distinct colours, not a blank canvas
            browser.save_screenshot(str(shot))
            view = np.asarray(Image.open(shot).convert("RGB"))[200:700, 250:800]
            return len(np.unique(view.reshape(-1, 3) // 8, axis=0)) > 300

        wait_for(drawn, 30, "WebGL to draw the points and frusta")
    finally:
        server.stop()


def test_synth_studio_in_chromium_draws_the_scene(browser, tmp_path):
    import viser
    from PIL import Image
    from typer.testing import CliRunner

    from synth.cli import app as synth_app
    from synth.studio.app import SynthStudio
    from synth.studio.scenes import list_scenes

    root = tmp_path / "ds"
    assert CliRunner().invoke(synth_app, ["plan", "--scenes", "1", "--out", str(root)]).exit_code == 0
    port = free_port()
    server = viser.ViserServer(host="127.0.0.1", port=port, verbose=False)
    try:
        studio = SynthStudio(server, root, list_scenes(root))
        browser.get(f"http://127.0.0.1:{port}")
        wait_for(lambda: len(server.get_clients()) > 0, what="the page to connect")
        studio.gui_frame.value = 40
        shot = tmp_path / "synth_studio.png"

        def drawn() -> bool:  # the ten paths and frusta in the status colour (ok: green)
            browser.save_screenshot(str(shot))
            view = np.asarray(Image.open(shot).convert("RGB")).astype(int)[100:700, 50:900]
            return (np.abs(view - [40, 170, 80]).sum(-1) < 60).sum() > 300

        wait_for(drawn, 30, "WebGL to draw the cameras")
    finally:
        server.stop()
