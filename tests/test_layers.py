"""ko's kodata and binary layers: entries, order, modes, owners, times, symlinks, gzip."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

import pytest

from kotasks.errors import UserError
from kotasks.gobuild.kodata import allowed_root, kodata_entries
from kotasks.gobuild.layers import binary_layer, kodata_layer
from kotasks.oci.layer import LayerInfo
from kotasks.oci.layout import Layout

GO_BESTSPEED_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"


def members(store: Layout, info: LayerInfo) -> list[tarfile.TarInfo]:
    with tarfile.open(store.blob_path(info.digest), "r:gz") as tar:
        return tar.getmembers()


@pytest.fixture
def store(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "store").ensure()


@pytest.fixture
def kodata(tmp_path: Path) -> Path:
    root = tmp_path / "repo" / "cmd" / "app" / "kodata"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "b.txt").write_text("b")
    (root / "a.txt").write_text("a")
    (root / "sub" / "c.txt").write_text("c")
    (root / "sub" / "deeper" / "d.txt").write_text("d")
    return root


def test_binary_layer_is_ko_app_dir_then_the_binary(store: Layout, tmp_path: Path) -> None:
    binary = tmp_path / "app"
    binary.write_bytes(b"\x7fELF binary")
    info = binary_layer(store, binary, "app")
    found = members(store, info)
    assert [(m.name, m.type, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime, m.size)
            for m in found] == [("ko-app", tarfile.DIRTYPE, 0o555, 0, 0, "", "", 0, 0),
                                ("/ko-app/app", tarfile.REGTYPE, 0o555, 0, 0, "", "", 0, 11)]
    raw = store.blob_path(info.digest).read_bytes()
    assert raw.startswith(GO_BESTSPEED_GZIP_HEADER)
    tar_bytes = gzip.decompress(raw)
    assert tar_bytes[257:265] == b"ustar\x0000"  # USTAR, as Go writes without PAX records
    assert len(tar_bytes) % 512 == 0 and tar_bytes.endswith(b"\0" * 1024)


def test_layers_are_deterministic(store: Layout, tmp_path: Path, kodata: Path) -> None:
    binary = tmp_path / "app"
    binary.write_bytes(os.urandom(100_000))
    assert binary_layer(store, binary, "app") == binary_layer(store, binary, "app")
    root = str(kodata)
    one = kodata_layer(store, kodata_entries(str(kodata), root), 0)
    two = kodata_layer(store, kodata_entries(str(kodata), root), 0)
    assert one == two


def test_kodata_layer_order_names_and_modes(store: Layout, kodata: Path) -> None:
    info = kodata_layer(store, kodata_entries(str(kodata), str(kodata)), 0)
    found = members(store, info)
    assert [m.name for m in found] == [
        "/var", "/var/run", "/var/run/ko", "/var/run/ko/a.txt", "/var/run/ko/b.txt",
        "/var/run/ko/sub", "/var/run/ko/sub/c.txt", "/var/run/ko/sub/deeper",
        "/var/run/ko/sub/deeper/d.txt"]
    assert {(m.mode, m.uid, m.gid, m.mtime) for m in found} == {(0o555, 0, 0, 0)}


def test_ko_data_date_epoch_sets_every_mtime(store: Layout, kodata: Path) -> None:
    info = kodata_layer(store, kodata_entries(str(kodata), str(kodata)), 1_600_000_000)
    assert {m.mtime for m in members(store, info)} == {1_600_000_000}


def test_missing_kodata_still_gives_the_parent_directories(store: Layout,
                                                           tmp_path: Path) -> None:
    info = kodata_layer(store, kodata_entries(str(tmp_path / "none"), str(tmp_path)), 0)
    assert [m.name for m in members(store, info)] == ["/var", "/var/run", "/var/run/ko"]


def test_symlinks_are_followed_inside_the_allowed_root(store: Layout, kodata: Path) -> None:
    (kodata / "link.txt").symlink_to("a.txt")
    (kodata / "linkdir").symlink_to("sub")
    info = kodata_layer(store, kodata_entries(str(kodata), str(kodata)), 0)
    by_name = {m.name: m for m in members(store, info)}
    assert by_name["/var/run/ko/link.txt"].isfile()
    assert by_name["/var/run/ko/linkdir"].isdir()
    assert by_name["/var/run/ko/linkdir/deeper/d.txt"].isfile()
    with tarfile.open(store.blob_path(info.digest), "r:gz") as tar:
        extracted = tar.extractfile("/var/run/ko/link.txt")
        assert extracted is not None and extracted.read() == b"a"


def test_symlink_escaping_the_allowed_root_is_an_error(kodata: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (kodata / "escape").symlink_to(outside)
    with pytest.raises(UserError, match="outside the allowed root"):
        list(kodata_entries(str(kodata), allowed_root(str(kodata), {})))


def test_git_repository_widens_the_allowed_root(kodata: Path) -> None:
    repo = kodata.parents[2]
    (repo / ".git").mkdir()
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (kodata / "HEAD").symlink_to(repo / ".git" / "HEAD")
    root = allowed_root(str(kodata), {})
    assert root == str(repo)
    names = [e.name for e in kodata_entries(str(kodata), root)]
    assert "/var/run/ko/HEAD" in names


def test_ko_data_path_allowed_root_widens_only_to_an_ancestor(kodata: Path,
                                                               tmp_path: Path) -> None:
    ancestor = kodata.parents[1]
    assert allowed_root(str(kodata), {"KO_DATA_PATH_ALLOWED_ROOT": str(ancestor)}) == str(
        ancestor)
    unrelated = tmp_path / "elsewhere"
    unrelated.mkdir()
    assert allowed_root(str(kodata), {"KO_DATA_PATH_ALLOWED_ROOT": str(unrelated)}) == str(
        kodata)


def test_symlink_cycle_is_an_error(kodata: Path) -> None:
    (kodata / "sub" / "loop").symlink_to(kodata / "sub")
    with pytest.raises(UserError, match="cycle"):
        list(kodata_entries(str(kodata), str(kodata)))


def test_windows_layout_prefixes_files_and_skips_symlinks(store: Layout, kodata: Path,
                                                           tmp_path: Path) -> None:
    (kodata / "link.txt").symlink_to("a.txt")
    info = kodata_layer(store, kodata_entries(str(kodata), str(kodata), windows=True), 0,
                        windows=True)
    names = [m.name for m in members(store, info)]
    assert names[:5] == ["Hives", "Files", "Files/var", "Files/var/run", "Files/var/run/ko"]
    assert "Files/var/run/ko/a.txt" in names and "Files/var/run/ko/link.txt" not in names
    binary = tmp_path / "app.exe"
    binary.write_bytes(b"MZ")
    found = members(store, binary_layer(store, binary, "app", windows=True))
    assert [m.name for m in found] == ["Hives", "Files", "Files/ko-app", "Files/ko-app/app"]
    assert found[-1].pax_headers["MSWINDOWS.rawsd"].startswith("AQAAgBQ")


def test_multi_block_gzip_is_one_valid_stream_whatever_the_thread_count(
        store: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kotasks.oci import layer as layer_module

    binary = tmp_path / "big"
    binary.write_bytes(os.urandom(1_500_000) + bytes(2_000_000) + os.urandom(700_000))
    infos = []
    for threads in (1, 3):
        monkeypatch.setattr(layer_module, "_THREADS", threads)
        infos.append(binary_layer(store, binary, "big"))
    assert infos[0] == infos[1]
    data = gzip.decompress(store.blob_path(infos[0].digest).read_bytes())
    assert "sha256:" + __import__("hashlib").sha256(data).hexdigest() == infos[0].diff_id
    assert binary.read_bytes() in data
