"""ko's two layers, byte for byte: the kodata layer and the binary layer (spec §4.1, §4.5)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from kotasks.gobuild.kodata import KodataEntry
from kotasks.oci.layer import GzipLayerWriter, LayerInfo
from kotasks.oci.layout import Layout

if TYPE_CHECKING:
    from kotasks.oci.estargz import TarSpool

MODE = 0o555
#: Windows security descriptor (owner and group BUILTIN\\Users) ko puts on every file
WINDOWS_RAWSD = b"AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA=="
CAPABILITY_XATTR = "SCHILY.xattr.security.capability"
LINUX_PARENTS = ("/var", "/var/run", "/var/run/ko")
WINDOWS_PARENTS = ("Hives", "Files", "Files/var", "Files/var/run", "Files/var/run/ko")


def kodata_layer(store: Layout, entries: Iterable[KodataEntry], mtime: int,
                 windows: bool = False, estargz: bool = False) -> LayerInfo:
    """Write the kodata layer: the fixed parent directories, then ``entries`` (as eStargz
    with no prioritized file, if asked)."""
    pax = {"MSWINDOWS.rawsd": WINDOWS_RAWSD} if windows else None

    def fill(writer: GzipLayerWriter | TarSpool) -> None:
        for parent in WINDOWS_PARENTS if windows else LINUX_PARENTS:
            writer.tar.add_directory(parent, MODE, mtime)
        for entry in entries:
            if entry.is_dir:
                writer.tar.add_directory(entry.name, MODE, mtime)
                continue
            with open(entry.source, "rb") as content:
                size = os.fstat(content.fileno()).st_size
                writer.tar.add_file(entry.name, size, content, MODE, mtime, pax)

    return store.write_estargz(fill) if estargz else store.write_layer(fill)


def binary_layer(store: Layout, binary: str | os.PathLike[str], name: str,
                 windows: bool = False, capability: bytes | None = None,
                 estargz: bool = False) -> LayerInfo:
    """Write the binary layer: ``ko-app`` then ``/ko-app/<name>`` (or the Windows layout);
    as eStargz with the binary as its prioritized file, if asked (as ko)."""

    def fill(writer: GzipLayerWriter | TarSpool) -> None:
        with open(binary, "rb") as content:
            size = os.fstat(content.fileno()).st_size
            if windows:
                for directory in ("Hives", "Files", "Files/ko-app"):
                    writer.tar.add_directory(directory, MODE)
                writer.tar.add_file(f"Files/ko-app/{name}", size, content, MODE,
                                    pax={"MSWINDOWS.rawsd": WINDOWS_RAWSD})
                return
            writer.tar.add_directory("ko-app", MODE)
            pax = {CAPABILITY_XATTR: capability} if capability else None
            writer.tar.add_file(f"/ko-app/{name}", size, content, MODE, pax=pax)

    if estargz:
        return store.write_estargz(fill, [f"Files/ko-app/{name}" if windows
                                          else f"/ko-app/{name}"])
    return store.write_layer(fill)
