"""exec, port-forward and cp against an in-memory API server whose "container" this program plays."""

from __future__ import annotations

import socket
import tempfile
import threading
from pathlib import Path

from k8spb import Api, Client, CommandError, Config, Merge
from k8spb.api.core.v1 import Pod
from k8spb.testing import ApiServer


def container(session):  # what `pods/exec` runs: session.command, .stdin, .stdout, .stderr, .tty
    if session.command[:1] == ["wc"]:
        data = session.stdin.read()  # until the client closes stdin
        session.stdout.write(f"{len(data.split())} words\n".encode())
        return 0
    session.stderr.write(f"{session.command[0]}: not found\n".encode())
    return 127


def echo_server() -> int:  # the pod's port 80, played by a TCP server on this machine
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"hello from port 80: " + conn.recv(1024))

    threading.Thread(target=serve, daemon=True).start()
    return int(server.getsockname()[1])


with ApiServer() as srv, Client(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
    pods = Api(client, Pod, "default")
    pods.create(Pod.from_dict({"metadata": {"name": "web"},
                               "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "busybox"}]}}))
    pods.patch_status("web", Merge({"status": {"phase": "Running"}}))
    srv.on_exec("default", "web", container)
    srv.forward_port("default", "web", 80, echo_server())

    proc = pods.exec("web", ["wc", "-w"], stdin=True)
    out, err = proc.communicate(b"the quick brown fox")
    print("exec:", out.decode().strip(), "exit code", proc.returncode)
    proc = pods.exec("web", ["nope"])
    print("exec:", proc.communicate(), "exit code", proc.returncode)

    with pods.portforward("web", [80]) as forward:
        stream = forward.stream(80)
        stream.write(b"ping")
        print("port-forward:", stream.read().decode())

    with pods.portforward_listen("web", {0: 80}) as listener:  # like `kubectl port-forward pod/web :80`
        conn = socket.create_connection(("127.0.0.1", listener.ports[80]))
        conn.sendall(b"via a local port")
        print("listener on", listener.ports[80], "->", conn.recv(1024).decode())
        conn.close()

    with tempfile.TemporaryDirectory() as tmp:  # cp is tar over exec: this container has no tar
        try:
            pods.cp_to("web", Path(tmp), "/tmp/data")
        except CommandError as exc:
            print("cp:", exc)
