"""Copying files to and from containers: tar over exec, as ``kubectl cp`` does.

``cp_to`` runs ``tar xmf - -C <dir>`` in the container and writes a tar of the local file or
directory to its stdin, named as the destination's last component; ``cp_from`` runs
``tar cf - -C <dir> <name>`` and unpacks what it prints. The container needs ``tar``. Unpacking
takes regular files and directories only, and refuses names that would land outside the destination.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
from collections.abc import Callable
from typing import IO, Any

from k8spb._errors import CommandError

__all__ = ["TarSink", "extract", "pack", "tar_create", "tar_extract"]

_CHUNK = 256 * 1024


def _split(remote: str) -> tuple[str, str]:
    path = posixpath.normpath(remote)
    parent, name = posixpath.split(path)
    if not name or name in (".", ".."):
        raise ValueError(f"container path {remote!r} names no file or directory")
    return parent or ".", name


def tar_extract(remote: str) -> list[str]:
    """The command that unpacks a tar from stdin so that it creates ``remote``."""
    parent, _ = _split(remote)
    return ["tar", "xmf", "-", "-C", parent]


def tar_create(remote: str) -> list[str]:
    """The command that prints a tar of ``remote`` whose members start with its last component."""
    parent, name = _split(remote)
    return ["tar", "cf", "-", "-C", parent, name]


class TarSink:
    """A write-only file that hands on what it gets in chunks of 256 KiB (tarfile writes 10 KiB records)."""

    def __init__(self, send: Callable[[bytes], Any]) -> None:
        self._send = send
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= _CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            self._send(data)


def pack(local: str | os.PathLike[str], remote: str, out: IO[bytes] | TarSink) -> None:
    """Write a tar of ``local`` (file or directory), named as ``remote``'s last component, to ``out``."""
    _, name = _split(remote)
    source = os.fspath(local)
    if not os.path.exists(source):
        raise FileNotFoundError(f"cp: {source} does not exist")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        tar.add(source, arcname=name)
    if isinstance(out, TarSink):
        out.flush()


def extract(stream: IO[bytes] | Any, remote: str, local: str | os.PathLike[str]) -> list[str]:
    """Unpack the tar ``tar_create(remote)`` printed so that ``remote`` becomes ``local``; the names skipped
    (links, devices: only files and directories are taken)."""
    _, name = _split(remote)
    target = os.path.abspath(os.fspath(local))
    skipped: list[str] = []
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            if not parts or parts[0] != name or ".." in parts or member.name.startswith("/"):
                raise ValueError(f"cp: the container's tar holds {member.name!r}, outside {remote!r}")
            path = os.path.join(target, *parts[1:])
            if member.isdir():
                os.makedirs(path, exist_ok=True)
            elif member.isfile():
                os.makedirs(os.path.dirname(path), exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, open(path, "wb") as fh:
                    shutil.copyfileobj(source, fh, _CHUNK)
                os.chmod(path, member.mode & 0o777)
            else:
                skipped.append(member.name)
    return skipped


def check(command: list[str], code: int, stderr: bytes, where: str) -> None:
    """Raise CommandError for a failed tar."""
    if code:
        text = stderr.decode("utf-8", "replace").strip()
        raise CommandError(f"{where}: {' '.join(command)} exited with {code}" + (f": {text}" if text else ""),
                           returncode=code, stderr=text)
