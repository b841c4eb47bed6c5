"""``recam studio`` in a real browser: Debian's chromium, headless, driven by selenium through chromedriver.

Opens the page, checks that WebGL drew the scene (software GL), adds a keyframe and exports with the GUI's buttons,
then checks the file with ``recam infer``'s loader and keeps a screenshot. Skipped (with the reason) only when no
chromium / chromedriver is installed (``scripts/setup.sh`` installs Debian's as root).
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("viser")
selenium = pytest.importorskip("selenium")

from recam.cameras import load_trajectory  # noqa: E402
from studio_scene import synthetic_source  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no chromium + chromedriver installed "
                                "(apt-get install chromium chromium-driver; scripts/setup.sh does it as root)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser():
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
        time.sleep(1.5)  # let WebGL draw the frusta and points
        shot = tmp_path / "studio.png"
        browser.save_screenshot(str(shot))
        img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
        # the 3D view (left of the GUI panel) is drawn: many distinct colours, not a blank canvas
        view = img[100:700, 50:800]
        assert len(np.unique(view.reshape(-1, 3) // 8, axis=0)) > 50, "the WebGL view looks blank"
    finally:
        server.stop()
