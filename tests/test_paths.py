"""The path policy (synth.core.paths): names from data, safe_join, O_NOFOLLOW, outputs outside inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synth.core.paths import (PATTERNS, UnsafePathError, check_name, check_output_not_inside_inputs,
                              enclosing_scene, is_valid_name, open_nofollow, read_text_nofollow, safe_join)

# path-like text: separators, dots, absolute starts, backslashes, NULs and ordinary letters, densely mixed
_PIECES = st.sampled_from(["..", ".", "/", "\\", "a", "b1", "~", "/etc", "C:\\", "x.mp4", "\x00", " ", "..."])
path_text = st.one_of(st.lists(_PIECES, max_size=8).map("".join), st.text(max_size=30))


def _inside(p: Path, root: Path) -> bool:
    rp, rr = os.path.realpath(p), os.path.realpath(root)
    return rp == rr or rp.startswith(rr + os.sep)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(path_text, min_size=1, max_size=3))
def test_safe_join_either_stays_inside_the_root_or_refuses(tmp_path, parts):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    try:
        p = safe_join(root, *parts)
    except UnsafePathError as e:
        assert str(e)  # a message, never another exception type
        return
    assert _inside(p, root) and p != root
    assert ".." not in p.relative_to(root).parts


@settings(max_examples=300, deadline=None)
@given(value=path_text, kind=st.sampled_from(sorted(PATTERNS)))
def test_a_valid_name_is_one_plain_component_or_a_scene_id(value, kind):
    ok = is_valid_name(value, kind)
    if not ok:
        with pytest.raises(UnsafePathError, match=kind.replace("_", " ")):
            check_name(value, kind, "f.csv:2 field")
        return
    assert check_name(value, kind) == value
    parts = value.split("/")
    assert len(parts) == (2 if kind == "scene_id" else 1)
    assert all(p not in ("", ".", "..") and not p.startswith(".") and "\\" not in p and "\x00" not in p
               for p in parts)


@pytest.mark.parametrize("kind,good,bad", [
    ("pair_id", ["f18_aperture10_scene3_cam01_to_cam02", "p0", "a.b-c"], ["../../x/pwn", "/abs", "..", ".x", "a/b",
                                                                        "", "a\x00"]),
    ("camera", ["cam01", "cam10", "cam100"], ["../../escape_cam", "cam1", "cam", "Cam01", "cam01/..", "cam01 "]),
    ("video_name", ["clip", "my clip (2)", "s0_cam01", "vidéo"], ["..", ".hidden", "a/b", "a\\b", " x", ""]),
    ("scene_id", ["f18_aperture10/scene3", "f35_aperture2.4/scene0"], ["../scene1", "/f18/scene1", "f18/../scene1",
                                                                      "scene1", "f18/scene1/x"]),
])
def test_name_patterns(kind, good, bad):
    assert all(is_valid_name(v, kind) for v in good)
    assert not any(is_valid_name(v, kind) for v in bad)


def test_safe_join_refuses_symlinks_that_leave_the_root_and_allows_those_inside(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "real").mkdir(parents=True)
    outside.mkdir()
    (root / "out_link").symlink_to(outside)
    (root / "in_link").symlink_to(root / "real")
    (root / "rel_escape").symlink_to("../outside")
    assert safe_join(root, "in_link", "a.mp4") == root / "in_link" / "a.mp4"
    for part in ("out_link", "out_link/a.mp4", "rel_escape/x"):
        with pytest.raises(UnsafePathError, match="symbolic link.*outside"):
            safe_join(root, part)
    with pytest.raises(UnsafePathError, match="absolute"):
        safe_join(root, str(root / "real"))  # absolute even when inside: names from data are relative
    # a root that is itself a link is fine (its target is the root)
    (tmp_path / "root_link").symlink_to(root)
    assert safe_join(tmp_path / "root_link", "real", "x") == tmp_path / "root_link" / "real" / "x"


def test_open_nofollow_refuses_a_symlink_and_never_touches_its_target(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "x.lock"
    link.symlink_to(victim)
    with pytest.raises(UnsafePathError, match=f"{link}: is a symbolic link \\(to {victim}\\)"):
        open_nofollow(link, os.O_RDWR | os.O_CREAT | os.O_TRUNC, what="a lock file")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        read_text_nofollow(link)
    assert victim.read_text() == "precious"
    fd = open_nofollow(tmp_path / "new.lock", os.O_RDWR | os.O_CREAT)
    os.close(fd)
    assert read_text_nofollow(victim) == "precious"
    with pytest.raises(FileNotFoundError):
        open_nofollow(tmp_path / "missing", os.O_RDONLY)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    with pytest.raises(UnsafePathError, match="larger than 10 bytes"):
        read_text_nofollow(big, max_bytes=10)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(out_parts=st.lists(st.sampled_from(["ds", "a", "b", "metadata.csv", "."]), min_size=1, max_size=4))
def test_an_output_is_refused_exactly_when_it_is_an_input_or_inside_an_input_folder(tmp_path, out_parts):
    ds = tmp_path / "ds"
    (ds / "a").mkdir(parents=True, exist_ok=True)
    (ds / "metadata.csv").write_text("file_name,text\n")
    out = tmp_path.joinpath(*out_parts)
    inside = _inside(out, ds)
    if inside:
        with pytest.raises(UnsafePathError, match="input"):
            check_output_not_inside_inputs(out, [None, ds], "--json")
    else:
        check_output_not_inside_inputs(out, [None, ds], "--json")
    meta = ds / "metadata.csv"  # a file input: only the same path is refused
    if os.path.realpath(out) == os.path.realpath(meta):
        with pytest.raises(UnsafePathError, match="itself"):
            check_output_not_inside_inputs(out, [meta])
    else:
        check_output_not_inside_inputs(out, [meta])


def test_enclosing_scene_finds_a_dataset_scene_above_a_path(tmp_path):
    scene = tmp_path / "ds" / "train" / "f18_aperture10" / "scene3"
    (scene / "cameras").mkdir(parents=True)
    assert enclosing_scene(scene / "sub" / "x") is None  # no camera file yet: not a scene
    (scene / "cameras" / "camera_extrinsics.json").write_text("{}")
    assert enclosing_scene(scene / "sub" / "x") == Path(os.path.realpath(scene))
    assert enclosing_scene(scene) == Path(os.path.realpath(scene))
    assert enclosing_scene(tmp_path / "ds") is None
    (tmp_path / "link").symlink_to(scene)
    assert enclosing_scene(tmp_path / "link" / "new") == Path(os.path.realpath(scene))
