import io
import tarfile
import zipfile

import pytest

from core.archive import safe_extract
from core.errors import ArchiveError


def _tar_with(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_plain_zip_and_tar_unpack(tmp_path):
    z = tmp_path / "ok.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("data/train/cat/1.txt", b"meow")
    assert (safe_extract(z, tmp_path / "z") / "data/train/cat/1.txt").read_bytes() == b"meow"
    t = _tar_with(tmp_path / "ok.tar.gz", [_file("data/a/1.txt", b"hi")])
    assert (safe_extract(t, tmp_path / "t") / "data/a/1.txt").read_bytes() == b"hi"


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/etc/evil.txt"])
def test_zip_slip_is_refused_and_nothing_escapes(tmp_path, name):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("fine.txt", b"ok")
        zf.writestr(name, b"pwned")
    with pytest.raises(ArchiveError, match="path"):
        safe_extract(z, tmp_path / "out" / "x")
    assert not (tmp_path / "out" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out" / "x").exists()  # a refused archive leaves nothing behind


def test_tar_path_escape_is_refused(tmp_path):
    t = _tar_with(tmp_path / "evil.tar.gz", [_file("../../evil.txt")])
    with pytest.raises(ArchiveError):
        safe_extract(t, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_links_are_refused(tmp_path, kind):
    info = tarfile.TarInfo("data/link")
    info.type = kind
    info.linkname = "/etc/passwd"
    t = _tar_with(tmp_path / "link.tar.gz", [(info, None)])
    with pytest.raises(ArchiveError, match="link"):
        safe_extract(t, tmp_path / "out")


def test_zip_symlink_is_refused(tmp_path):
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("data/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="link"):
        safe_extract(z, tmp_path / "out")


def test_oversized_archive_is_refused_while_writing(tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * 2_000_000)  # compresses to a few KB
    with pytest.raises(ArchiveError, match="too large"):
        safe_extract(z, tmp_path / "out", max_bytes=1_000_000)


def test_too_many_files_is_refused(tmp_path):
    t = _tar_with(tmp_path / "many.tar.gz", [_file(f"f{i}.txt") for i in range(6)])
    with pytest.raises(ArchiveError, match="more than 5"):
        safe_extract(t, tmp_path / "out", max_files=5)


def test_malformed_archive_and_wrong_type_get_clear_errors(tmp_path):
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(ArchiveError, match="not a readable archive"):
        safe_extract(bad, tmp_path / "out")
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(ArchiveError, match="expected a .zip"):
        safe_extract(pdf, tmp_path / "out2")
