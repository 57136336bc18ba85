"""VfsStorage, volumes and the filesystem arguments the cores take."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _eryx

__all__ = ["VfsStorage"]

PathLike = str | Path


class VfsStorage:
    """An in-memory filesystem that sessions mount (at ``/data`` unless
    ``vfs_mount_path`` says otherwise) and share: every session given the
    same storage sees the same files, from any thread.

    ``max_bytes`` bounds it (file contents, plus 256 bytes and the name of
    each file, directory and symlink); None: 64 MiB.  ``snapshot()`` and
    ``restore()`` save and bring back its files as bytes; ``fork()`` makes
    an independent copy.
    """

    __slots__ = ("_storage",)

    def __init__(self, max_bytes: int | None = None) -> None:
        if max_bytes is not None and (
            not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes <= 0
        ):
            raise TypeError("max_bytes must be a positive int or None")
        self._storage = _eryx.Storage(max_bytes or 0)

    @classmethod
    def _wrap(cls, storage: Any) -> VfsStorage:
        v = cls.__new__(cls)
        v._storage = storage
        return v

    @property
    def used_bytes(self) -> int:
        """Bytes charged to the storage's limit now."""
        return int(self._storage.used)

    def snapshot(self) -> bytes:
        """The files as bytes (``restore`` takes them)."""
        return bytes(self._storage.snapshot())

    def restore(self, snapshot: bytes) -> None:
        """Replace the files by a snapshot's.  ValueError when the bytes are
        not an intact snapshot or do not fit the limit; the files are then
        unchanged."""
        if not isinstance(snapshot, (bytes, bytearray, memoryview)):
            raise TypeError("snapshot must be bytes")
        self._storage.restore(bytes(snapshot))

    def fork(self) -> VfsStorage:
        """A new storage holding a copy of these files."""
        return VfsStorage._wrap(self._storage.fork())

    def __repr__(self) -> str:
        return "VfsStorage()"


def _volumes(volumes: Sequence[tuple[str, str, bool]] | None) -> list[tuple[str, str, bool]]:
    """Checked (host, guest, read_only) triples."""
    if volumes is None:
        return []
    if isinstance(volumes, (str, bytes)):
        raise TypeError("volumes must be a sequence of (host, guest, read_only) tuples")
    out = []
    for v in volumes:
        if not isinstance(v, (tuple, list)) or len(v) != 3:
            raise TypeError("each volume must be a (host, guest, read_only) tuple")
        host, guest, ro = v
        if not isinstance(host, (str, Path)) or not isinstance(guest, str):
            raise TypeError("a volume's host and guest paths must be str")
        out.append((str(host), guest, bool(ro)))
    return out


def fs_args(
    *,
    vfs: VfsStorage | None = None,
    vfs_mount_path: str | None = None,
    volumes: Sequence[tuple[str, str, bool]] | None = None,
    max_vfs_bytes: int | None = None,
    site_packages: PathLike | None = None,
) -> tuple[Any, ...] | None:
    """The filesystem tuple a core takes, or None when all is default."""
    if vfs is not None and not isinstance(vfs, VfsStorage):
        raise TypeError("vfs must be a VfsStorage")
    if vfs_mount_path is not None and not isinstance(vfs_mount_path, str):
        raise TypeError("vfs_mount_path must be a str")
    vols = _volumes(volumes)
    if (
        vfs is None
        and vfs_mount_path is None
        and not vols
        and not max_vfs_bytes
        and (site_packages is None)
    ):
        return None
    return (
        vfs_mount_path,
        max_vfs_bytes or 0,
        vfs._storage if vfs is not None else None,
        vols,
        None if site_packages is None else str(site_packages),
    )
