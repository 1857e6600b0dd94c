"""Safe unpacking of .zip / .tar.gz / .tgz / .tar archives.

An archive may come from a stranger (an upload in the Train tab), so nothing in it is trusted:
no member may land outside the target folder (absolute paths, ``..``), links and device files are
refused, and the total unpacked size and the number of files are capped. Sizes are counted while
bytes are written, so an archive that lies about its sizes (a zip bomb) is stopped too.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from core.errors import ArchiveError

MAX_BYTES = 2 * 1024**3  # 2 GiB unpacked: far above any image-folder dataset this app trains on a CPU
MAX_FILES = 200_000  # CIFAR-100 is 60,000 files; more than this is a mistake or an attack
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
_CHUNK = 1024 * 1024


def is_archive(path: str | Path) -> bool:
    """True when the file name ends like an archive we can unpack."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _safe_relative(name: str) -> PurePosixPath:
    """The member name as a relative path, or ArchiveError if it could escape the target folder."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"the archive holds an absolute path ({name!r}); refusing to unpack it")
    if ".." in path.parts:
        raise ArchiveError(f"the archive holds a path that leaves its folder ({name!r}); refusing to unpack it")
    return path


class _Budget:
    """Counts files and bytes written and stops at the caps."""

    def __init__(self, max_bytes: int, max_files: int):
        self.max_bytes, self.max_files = max_bytes, max_files
        self.bytes = 0
        self.files = 0

    def add_file(self) -> None:
        self.files += 1
        if self.files > self.max_files:
            raise ArchiveError(f"the archive holds more than {self.max_files:,} files; split it or remove some")

    def add_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.max_bytes:
            raise ArchiveError(f"the archive unpacks to more than {self.max_bytes / 1024**2:,.0f} MB; it is too large")


def _copy_limited(src, dst_path: Path, budget: _Budget) -> None:
    with open(dst_path, "wb") as dst:
        while chunk := src.read(_CHUNK):
            budget.add_bytes(len(chunk))
            dst.write(chunk)


def safe_extract(
    archive: str | Path, dest: str | Path, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES
) -> Path:
    """Unpack ``archive`` into the folder ``dest`` (created) and return ``dest``.

    Raises ArchiveError, leaving nothing behind in ``dest``, when the archive is malformed, holds a
    link, a device, an absolute or escaping path, or exceeds ``max_bytes`` / ``max_files``.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise ArchiveError(f"no archive at {archive}")
    if not is_archive(archive):
        raise ArchiveError(f"expected a .zip, .tar.gz, .tgz or .tar archive, got {archive.name!r}")
    dest.mkdir(parents=True, exist_ok=True)
    budget = _Budget(max_bytes, max_files)
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, dest, budget)
        else:
            _extract_tar(archive, dest, budget)
    except ArchiveError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        shutil.rmtree(dest, ignore_errors=True)
        raise ArchiveError(f"{archive.name} is not a readable archive ({err})") from err
    return dest


def _extract_zip(archive: Path, dest: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            rel = _safe_relative(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(f"the archive holds a link ({info.filename!r}); links are not allowed")
            target = dest / rel
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            budget.add_file()
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src:
                _copy_limited(src, target, budget)


def _extract_tar(archive: Path, dest: Path, budget: _Budget) -> None:
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            rel = _safe_relative(member.name)
            if member.issym() or member.islnk():
                raise ArchiveError(f"the archive holds a link ({member.name!r}); links are not allowed")
            if member.isdir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
                continue
            if not member.isfile():
                raise ArchiveError(f"the archive holds a special file ({member.name!r}); only files and folders")
            budget.add_file()
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(member)
            if src is None:
                raise ArchiveError(f"cannot read {member.name!r} in the archive")
            with src:
                _copy_limited(src, target, budget)
