"""Copying a SAGE_HOME (or part of one) without inflating its sparse files.

Qdrant Edge preallocates its files sparse: each shard holds 32 MiB WAL segments, 32 MiB vector and
payload pages and 2-4 MiB payload-index pages, almost all holes. ``shutil.copytree`` writes the
holes out as zeros, so a home of under 5 MB on disk becomes ~350 MB in its copy. Evaluations,
benchmarks and tests copy homes many times; this copy keeps the holes.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

_BLOCK = 1 << 16
_ZEROS = bytes(_BLOCK)


def _data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """The (start, end) ranges of ``fd`` that hold data; the whole file where holes cannot be asked for."""
    extents: list[tuple[int, int]] = []
    position = 0
    try:
        while position < size:
            try:
                start = os.lseek(fd, position, os.SEEK_DATA)
            except OSError as err:
                if err.errno == errno.ENXIO:  # only a hole is left
                    break
                raise
            position = os.lseek(fd, start, os.SEEK_HOLE)
            extents.append((start, position))
    except (AttributeError, OSError):  # no SEEK_DATA here (platform or file system)
        return [(0, size)]
    return extents


def copy_sparse(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, follow_symlinks: bool = True) -> str:
    """Copy one file with its metadata, leaving the source's holes and any all-zero 64 KiB block as holes.

    The signature is ``shutil.copy2``'s, so it serves as ``copytree``'s ``copy_function``.
    """
    if not follow_symlinks and os.path.islink(src):
        return shutil.copy2(src, os.fspath(dst), follow_symlinks=False)
    with open(src, "rb") as source, open(dst, "wb") as target:
        size = os.fstat(source.fileno()).st_size
        for start, end in _data_extents(source.fileno(), size):
            source.seek(start)
            target.seek(start)
            while (left := end - source.tell()) > 0:
                block = source.read(min(_BLOCK, left))
                if not block:
                    break
                if block == _ZEROS[: len(block)]:
                    target.seek(len(block), os.SEEK_CUR)
                else:
                    target.write(block)
        target.truncate(size)  # a file that ends in a hole keeps its length
    shutil.copystat(src, dst, follow_symlinks=follow_symlinks)
    return str(dst)


def copy_tree(
    src: Path,
    dst: Path,
    *,
    ignore: Callable[[str, list[str]], set[str]] | None = None,
    dirs_exist_ok: bool = False,
) -> Path:
    """``shutil.copytree`` with :func:`copy_sparse`: symlinks stay links, holes stay holes."""
    shutil.copytree(src, dst, symlinks=True, ignore=ignore, copy_function=copy_sparse, dirs_exist_ok=dirs_exist_ok)
    return dst
