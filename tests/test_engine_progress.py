"""Rates and ETAs count only work done in this run (issue 19 item 4): a resumed job that skips complete items
reports the speed it really works at, not the skipped items over a few seconds."""

from __future__ import annotations

import re

from rich.console import Console

from synth.core import progress as progress_mod
from synth.core.progress import job_progress


class _Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _lines(monkeypatch, steps):
    """Run ``steps`` ([("skip"|"advance", n, seconds after)]) on a log-line progress of 100 images; the lines."""
    clock = _Clock()
    monkeypatch.setattr(progress_mod.time, "perf_counter", clock)
    monkeypatch.setattr(progress_mod, "EVERY_S", 0.0)  # a line on every step
    rec = Console(record=True, width=300, file=open("/dev/null", "w"))
    monkeypatch.setattr(progress_mod, "console", rec)
    prog = job_progress("images", tty=False)
    with prog:
        task = prog.add_task("render", total=100)
        for what, n, dt in steps:
            clock.t += dt
            getattr(prog, what)(task, n)
    return [ln for ln in rec.export_text().splitlines() if ln.startswith("render: ")]


def _rate_eta(line):
    m = re.search(r"([\d.]+) images/s, elapsed \S+, ETA (\S+)", line)
    return float(m.group(1)), m.group(2)


def test_skipped_items_do_not_count_in_the_rate(monkeypatch):
    # 80 images found complete in 1 s, then 2 images/s of real work for 5 s
    lines = _lines(monkeypatch, [("skip", 80, 1.0), ("advance", 10, 5.0)])
    assert lines, "no progress line"
    rate, eta = _rate_eta(lines[-1])
    assert abs(rate - 10 / 6) < 0.01, lines  # 10 images in 6 s of this run, not 90 / 6
    assert "80 already complete" in lines[-1] and "90/100" in lines[-1]
    assert eta == "6s", lines  # 10 images left at 1.67/s


def test_a_run_without_skips_reports_all_items(monkeypatch):
    lines = _lines(monkeypatch, [("advance", 50, 10.0)])
    rate, eta = _rate_eta(lines[-1])
    assert abs(rate - 5.0) < 0.01 and eta == "10s" and "already complete" not in lines[-1]


def test_all_skipped_finishes_with_one_line_and_no_rate(monkeypatch):
    lines = _lines(monkeypatch, [("skip", 100, 1.0)])
    assert len(lines) == 1 and "100/100" in lines[0]
    rate, _ = _rate_eta(lines[0])
    assert rate == 0.0


def test_live_bar_speed_ignores_skips(monkeypatch):
    prog = job_progress("images", tty=True)
    task = prog.add_task("render", total=100)
    prog.skip(task, 90)
    t = prog.tasks[0]
    assert t.completed == 90 and t.speed is None  # no sample: the live rate column shows "--", not 90 in 0 s
    assert t.time_remaining is None


def test_scene_line_eta_uses_rendered_scenes_only():
    from synth.render.driver import SceneStats
    from synth.render.run import scene_line

    done = [SceneStats(i, skipped=True) for i in range(8)] + [SceneStats(8, 5, 10, wall_s=10.0)]
    line = scene_line(done[-1], done, 10, elapsed_s=12.0)
    assert "(9/10, 8 already complete, 5.0 images/s, ETA 12s)" in line, line  # 1 scene left at 12 s/scene
