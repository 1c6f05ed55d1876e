"""Api.cp_to / cp_from (tar over exec), sync and async, against a container played by the test."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from k8spb import Api, AsyncApi, AsyncClient, Client, CommandError, Config
from k8spb.api.core.v1 import Pod
from k8spb.testing import ApiServer
from tests._streams_support import POD, FakeContainer, fs_tree, make_pods


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> FakeContainer:
    return FakeContainer(tmp_path_factory.mktemp("rootfs"))


@pytest.fixture(scope="module")
def srv(container: FakeContainer) -> Iterator[ApiServer]:
    with ApiServer() as server:
        make_pods(server)
        server.on_exec("default", POD, container)
        yield server


@pytest.fixture(scope="module")
def pods(srv: ApiServer) -> Iterator[Api[Pod]]:
    with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
        yield Api(client, Pod, "default")


def _tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (root / "sub" / "deeper" / "c").write_bytes(b"")


def test_round_trip_of_a_directory_and_a_file(pods: Api[Pod], container: FakeContainer, tmp_path: Path) -> None:
    local = tmp_path / "src"
    _tree(local)
    pods.cp_to(POD, local, "/srv/data")
    assert fs_tree(container.path("/srv/data")) == fs_tree(local)
    assert container.calls[-1] == ["tar", "xmf", "-", "-C", "/srv"]
    back = tmp_path / "back"
    assert pods.cp_from(POD, "/srv/data", back) == []
    assert fs_tree(back) == fs_tree(local)
    pods.cp_to(POD, local / "a.txt", "/etc/renamed.txt")
    assert container.path("/etc/renamed.txt").read_bytes() == b"alpha\n"
    pods.cp_from(POD, "/etc/renamed.txt", tmp_path / "one.txt")
    assert (tmp_path / "one.txt").read_bytes() == b"alpha\n"


def test_failures(pods: Api[Pod], tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"cp from pod web: tar cf - -C / missing exited with 2: tar: missing: "
                                           r"Cannot stat") as info:
        pods.cp_from(POD, "/missing", tmp_path / "x")
    assert info.value.returncode == 2
    with pytest.raises(FileNotFoundError):
        pods.cp_to(POD, tmp_path / "absent", "/x")
    with pytest.raises(ValueError, match="names no file"):
        pods.cp_to(POD, tmp_path, "/")


def test_a_tar_that_stops_reading_reports_its_exit(srv: ApiServer, pods: Api[Pod], tmp_path: Path) -> None:
    def broken(s: Any) -> int:
        s.stderr.write(b"tar: short read\n")
        return 2  # without reading stdin: the client's writes fail, the exit status tells why

    srv.on_exec("default", "multi", broken)
    (tmp_path / "big").write_bytes(os.urandom(4 * 1024 * 1024))
    with pytest.raises(CommandError, match="exited with 2: tar: short read"):
        pods.cp_to("multi", tmp_path / "big", "/x/big", container="a")


def test_a_tar_escaping_the_destination_is_refused(srv: ApiServer, pods: Api[Pod], tmp_path: Path) -> None:
    def evil(s: Any) -> int:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("data/../../escaped")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"bad"))
        s.stdout.write(buf.getvalue())
        return 0

    srv.on_exec("default", "multi", evil)
    with pytest.raises(ValueError, match=r"outside '/srv/data'"):
        pods.cp_from("multi", "/srv/data", tmp_path / "out", container="a")
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()


def test_async(srv: ApiServer, container: FakeContainer, tmp_path: Path) -> None:
    local = tmp_path / "src"
    _tree(local)

    async def main() -> None:
        async with AsyncClient(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
            pods = AsyncApi(client, Pod, "default")
            await pods.cp_to(POD, local, "/async/data")
            assert await pods.cp_from(POD, "/async/data", tmp_path / "back") == []
            with pytest.raises(CommandError, match="exited with 2"):
                await pods.cp_from(POD, "/nothing", tmp_path / "y")

    asyncio.run(main())
    assert fs_tree(container.path("/async/data")) == fs_tree(local) == fs_tree(tmp_path / "back")
