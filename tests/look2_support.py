"""Shared by the look-2 tests: a bank body and its retargeted clips, computed once per test process."""

from __future__ import annotations

import functools

import pytest

from synth.scenes.catalog import asset_cache_dir


@functools.lru_cache(maxsize=1)
def _body_path(tmp: str):
    from pathlib import Path

    built = asset_cache_dir() / "bodies" / "body01.npz"
    if built.is_file():
        return built
    pytest.importorskip("anny")
    from synth.assets_build.bodies import BANK_SEED, build_bodies, default_model_cache

    build_bodies(Path(tmp), default_model_cache(), n=1, seed=BANK_SEED, log=lambda *_: 0)
    return Path(tmp) / "bodies" / "body01.npz"


def bank_body(tmp_path_factory):
    """Body 1 of the default bank: the installed asset cache's, else built (anny) into a temporary folder."""
    return _load(str(_body_path(str(tmp_path_factory.getbasetemp() / "look2-bank"))))


@functools.lru_cache(maxsize=1)
def _load(path: str):
    from synth.render.embedded.bodies import load_body

    return load_body(path)


_CLIPS: dict = {}


def retargeted(body, catalog, anim):
    """``body_clip(...)[1]`` (the retargeting result) of ``anim`` on ``body``, cached per process."""
    from synth.render.embedded.bodies import body_clip

    key = (str(body.path), anim.id, anim.asset, anim.duration_s)
    if key not in _CLIPS:
        _CLIPS[key] = body_clip(anim.id, anim.asset, anim.duration_s, body, catalog.root)[1]
    return _CLIPS[key]
