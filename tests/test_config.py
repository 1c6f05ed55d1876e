"""Config: kubeconfig loading and merging, in-cluster configuration, TLS, proxies and impersonation."""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8spb import _config
from k8spb._auth import Auth, BasicAuth, ClientCert, ExecAuth, TokenAuth, TokenFileAuth
from k8spb._config import Config
from k8spb._errors import ConfigError
from tests._config_support.plugins import V1, last_run, write_plugin
from tests._config_support.tls import SERVER_NAME, OneShotTLSServer, Pki, handshake, make_pki

TOKEN = "tok-5e1b8c0f2d9a4e7b8c6d5e4f3a2b1c0d"
PASSWORD = "pa55-w0rd-s3cr3t"

_ENV = (
    "KUBECONFIG",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fresh HOME and no kubeconfig, cluster or proxy variables."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(_config, "SERVICE_ACCOUNT_DIR", str(tmp_path / "no-service-account"))
    yield home


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def kubeconfig(
    clusters: dict[str, dict[str, Any]] | None = None,
    users: dict[str, dict[str, Any]] | None = None,
    contexts: dict[str, dict[str, Any]] | None = None,
    current: str | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    if clusters is not None:
        doc["clusters"] = [{"name": k, "cluster": v} for k, v in clusters.items()]
    if users is not None:
        doc["users"] = [{"name": k, "user": v} for k, v in users.items()]
    if contexts is not None:
        doc["contexts"] = [{"name": k, "context": v} for k, v in contexts.items()]
    if current is not None:
        doc["current-context"] = current
    return doc


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def simple(user: dict[str, Any] | None = None, *, server: str = "https://k.example:6443") -> dict[str, Any]:
    return kubeconfig(
        clusters={"c": {"server": server}},
        users={"u": user or {"token": TOKEN}},
        contexts={"ctx": {"cluster": "c", "user": "u"}},
        current="ctx",
    )


def error(func: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        func(*args, **kwargs)
    return str(info.value)


# -- selection ----------------------------------------------------------------------------------------------


def test_from_kubeconfig_reads_the_current_context(tmp_path: Path, pki: Pki) -> None:
    doc = kubeconfig(
        clusters={
            "prod": {"server": "https://prod.example:6443/", "certificate-authority-data": b64(pki.ca_pem)},
            "dev": {"server": "https://dev.example"},
        },
        users={"admin": {"token": TOKEN}, "dev": {"username": "bob", "password": PASSWORD}},
        contexts={
            "prod": {"cluster": "prod", "user": "admin", "namespace": "web"},
            "dev": {"cluster": "dev", "user": "dev"},
        },
        current="prod",
    )
    path = write(tmp_path / "config", doc)
    config = Config.from_kubeconfig(path)
    assert config.server == "https://prod.example:6443"
    assert config.namespace == "web"
    assert config.ca_data == pki.ca_pem
    assert config.context == "prod"
    assert isinstance(config.auth, TokenAuth)
    assert config.auth.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert config.insecure_skip_tls_verify is False
    assert config.impersonate == ()

    dev = Config.from_kubeconfig(path, context="dev")
    assert dev.server == "https://dev.example"
    assert dev.namespace == "default"
    assert isinstance(dev.auth, BasicAuth)
    assert dev.ca_data is None


def test_overrides_replace_parts_of_the_context(tmp_path: Path) -> None:
    doc = kubeconfig(
        clusters={"a": {"server": "https://a"}, "b": {"server": "https://b"}},
        users={"ua": {"token": "ta"}, "ub": {"token": "tb"}},
        contexts={"ctx": {"cluster": "a", "user": "ua", "namespace": "n1"}},
        current="ctx",
    )
    path = write(tmp_path / "config", doc)
    config = Config.from_kubeconfig(path, cluster="b", user="ub", namespace="n2")
    assert (config.server, config.namespace) == ("https://b", "n2")
    assert config.auth.headers() == {"Authorization": "Bearer tb"}
    # Without any context at all, a cluster is enough.
    no_current = dict(doc)
    del no_current["current-context"]
    write(path, no_current)
    anonymous = Config.from_kubeconfig(path, cluster="a")
    assert anonymous.server == "https://a"
    assert type(anonymous.auth) is Auth


def test_context_without_user_is_anonymous(tmp_path: Path) -> None:
    doc = kubeconfig(clusters={"c": {"server": "https://c"}}, contexts={"x": {"cluster": "c"}}, current="x")
    config = Config.from_kubeconfig(write(tmp_path / "config", doc))
    assert config.auth.headers() == {}
    assert config.auth.client_cert() is None


def test_selection_errors_name_the_file_and_the_choices(clean_env: Path) -> None:
    doc = kubeconfig(
        clusters={"c": {"server": "https://c"}},
        users={"u": {"token": "t"}},
        contexts={"a": {"cluster": "c", "user": "u"}, "b": {"cluster": "gone", "user": "u"}},
    )
    write(clean_env / ".kube" / "config", doc)
    assert error(Config.from_kubeconfig, context="foo") == '~/.kube/config: context "foo" not found (contexts: a, b)'
    assert error(Config.from_kubeconfig) == (
        "~/.kube/config: current-context is not set; choose a context (contexts: a, b)"
    )
    assert error(Config.from_kubeconfig, context="b") == (
        '~/.kube/config: contexts[1].context.cluster: cluster "gone" not found (clusters: c)'
    )
    assert error(Config.from_kubeconfig, context="a", user="nobody") == (
        '~/.kube/config: user "nobody" not found (users: u)'
    )


def test_context_with_unknown_user(tmp_path: Path) -> None:
    doc = kubeconfig(clusters={"c": {"server": "https://c"}}, contexts={"x": {"cluster": "c", "user": "u"}})
    path = write(tmp_path / "config", doc)
    assert error(Config.from_kubeconfig, path, context="x") == (
        f'{path}: contexts[0].context.user: user "u" not found (no users defined)'
    )


# -- merging and paths ----------------------------------------------------------------------------------------


def test_kubeconfig_env_merges_files_first_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki) -> None:
    first = write(
        tmp_path / "one" / "config",
        kubeconfig(
            clusters={"shared": {"server": "https://first"}},
            users={"u1": {"token": "t1"}},
            contexts={"c1": {"cluster": "shared", "user": "u1"}},
        ),
    )
    (tmp_path / "two" / "certs").mkdir(parents=True)
    (tmp_path / "two" / "certs" / "ca.pem").write_bytes(pki.ca_pem)
    (tmp_path / "two" / "token").write_text("file-token")
    second = write(
        tmp_path / "two" / "config",
        kubeconfig(
            clusters={
                "shared": {"server": "https://second"},
                "own": {"server": "https://own", "certificate-authority": "certs/ca.pem"},
            },
            users={"u1": {"token": "ignored"}, "u2": {"tokenFile": "token"}},
            contexts={"c1": {"cluster": "own"}, "c2": {"cluster": "own", "user": "u2"}},
            current="c2",
        ),
    )
    third = write(tmp_path / "three" / "config", kubeconfig(current="c1"))
    missing = tmp_path / "missing" / "config"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(missing), "", str(second), str(third)]))

    config = Config.infer()  # current-context from the first file that sets it: c2
    assert config.context == "c2"
    assert config.server == "https://own"
    assert config.ca_data == pki.ca_pem  # relative to the second file
    assert isinstance(config.auth, TokenFileAuth)
    assert config.auth.path == str(tmp_path / "two" / "token")
    assert config.auth.headers() == {"Authorization": "Bearer file-token"}

    c1 = Config.from_kubeconfig(context="c1")  # the first file's c1, cluster and user
    assert c1.server == "https://first"
    assert c1.auth.headers() == {"Authorization": "Bearer t1"}


def test_explicit_list_of_paths(tmp_path: Path) -> None:
    a = write(tmp_path / "a", kubeconfig(clusters={"c": {"server": "https://a"}}, contexts={"x": {"cluster": "c"}}))
    b = write(tmp_path / "b", kubeconfig(clusters={"c": {"server": "https://b"}}, current="x"))
    assert Config.from_kubeconfig([b, a]).server == "https://b"
    assert Config.from_kubeconfig([a, b]).server == "https://a"


def test_relative_exec_command_and_cert_files(tmp_path: Path, pki: Pki) -> None:
    d = tmp_path / "kube"
    write_plugin(d / "bin", "emit({'token': 'from-plugin'})")
    (d / "pki").mkdir(parents=True)
    (d / "pki" / "client.crt").write_bytes(pki.client_cert_pem)
    (d / "pki" / "client.key").write_bytes(pki.client_key_pem)
    user = {
        "client-certificate": "pki/client.crt",
        "client-key": "pki/client.key",
        "exec": {"apiVersion": V1, "command": "./bin/plugin.py", "interactiveMode": "Never"},
    }
    config = Config.from_kubeconfig(write(d / "config", simple(user)))
    assert isinstance(config.auth, ExecAuth)
    assert config.auth.plugin.command == str(d / "bin" / "plugin.py")
    assert config.auth.headers() == {"Authorization": "Bearer from-plugin"}
    assert config.auth.client_cert() == ClientCert(pki.client_cert_pem, pki.client_key_pem)


def test_exec_command_without_separator_is_looked_up_on_path(tmp_path: Path) -> None:
    user = {"exec": {"apiVersion": V1, "command": "aws", "args": ["eks", "get-token"]}}
    config = Config.from_kubeconfig(write(tmp_path / "config", simple(user)))
    assert isinstance(config.auth, ExecAuth)
    assert config.auth.plugin.command == "aws"
    assert config.auth.plugin.args == ("eks", "get-token")


def test_exec_gets_cluster_info(tmp_path: Path, pki: Pki) -> None:
    script = write_plugin(tmp_path / "plugin", "emit({'token': 'x'})")
    doc = simple(
        {
            "exec": {
                "apiVersion": V1,
                "command": sys.executable,
                "args": [str(script)],
                "env": [{"name": "FOO", "value": "bar"}],
                "provideClusterInfo": True,
                "installHint": "pip install it",
            }
        }
    )
    doc["clusters"][0]["cluster"].update(
        {
            "certificate-authority-data": b64(pki.ca_pem),
            "tls-server-name": "api.internal",
            "proxy-url": "http://proxy.example:3128",
            "extensions": [
                {"name": "other", "extension": {"x": 1}},
                {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "k8s"}},
            ],
        }
    )
    config = Config.from_kubeconfig(write(tmp_path / "config", doc))
    config.auth.headers()
    run = last_run(tmp_path / "plugin")
    assert run["env"]["FOO"] == "bar"
    assert json.loads(run["env"]["KUBERNETES_EXEC_INFO"]) == {
        "apiVersion": V1,
        "kind": "ExecCredential",
        "spec": {
            "interactive": False,
            "cluster": {
                "server": "https://k.example:6443",
                "tls-server-name": "api.internal",
                "certificate-authority-data": b64(pki.ca_pem),
                "proxy-url": "http://proxy.example:3128",
                "config": {"audience": "k8s"},
            },
        },
    }


def test_exec_missing_binary_error_names_the_user_entry(tmp_path: Path) -> None:
    user = {"exec": {"apiVersion": V1, "command": "k8spb-missing-plugin", "installHint": "Get it from example.com"}}
    path = write(tmp_path / "config", simple(user))
    config = Config.from_kubeconfig(path)
    assert error(config.auth.headers) == (
        f'{path}: users[0].user.exec: command "k8spb-missing-plugin" not found\nGet it from example.com'
    )


# -- infer and in-cluster -----------------------------------------------------------------------------------------


def test_infer_uses_home_kubeconfig(clean_env: Path) -> None:
    write(clean_env / ".kube" / "config", simple(server="https://home"))
    assert Config.infer().server == "https://home"


def _service_account(directory: Path, token: str = TOKEN, namespace: str | None = "apps") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "token").write_text(token)
    (directory / "ca.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    if namespace is not None:
        (directory / "namespace").write_text(namespace + "\n")
    return directory


def test_incluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sa = _service_account(tmp_path / "sa")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    config = Config.incluster(service_account_dir=sa)
    assert config.server == "https://10.96.0.1:443"
    assert config.namespace == "apps"
    assert config.ca_data == b"-----BEGIN CERTIFICATE-----\n"
    assert config.source == "in-cluster"
    assert config.auth.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert TOKEN not in repr(config)
    # The kubelet rotates the token.
    (sa / "token.tmp").write_text("rotated-token")
    os.replace(sa / "token.tmp", sa / "token")
    assert config.auth.headers() == {"Authorization": "Bearer rotated-token"}


def test_incluster_ipv6_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sa = _service_account(tmp_path / "sa", namespace=None)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    config = Config.incluster(service_account_dir=sa)
    assert config.server == "https://[fd00:10:96::1]:6443"
    assert config.namespace == "default"


def test_incluster_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set" in error(Config.incluster)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "https")
    assert "is not a port number" in error(Config.incluster, service_account_dir=tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert error(Config.incluster, service_account_dir=tmp_path) == (
        f"in-cluster: token file {tmp_path / 'token'} not found"
    )


def test_infer_falls_back_to_incluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sa = _service_account(tmp_path / "sa")
    monkeypatch.setattr(_config, "SERVICE_ACCOUNT_DIR", str(sa))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert Config.infer().source == "in-cluster"
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    assert Config.infer().source == "in-cluster"


def test_infer_without_any_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = error(Config.infer)
    assert message.startswith("no configuration found: KUBECONFIG is not set, ~/.kube/config does not exist")
    assert "KUBERNETES_SERVICE_HOST" in message
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    assert str(tmp_path / "nope") in error(Config.infer)
    assert "none of the KUBECONFIG files exist" in error(Config.from_kubeconfig)


def test_infer_does_not_hide_a_broken_kubeconfig(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(clean_env / ".kube" / "config", "clusters: [")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert error(Config.infer).startswith("~/.kube/config: invalid YAML")


# -- file and field errors ------------------------------------------------------------------------------------------


def test_broken_yaml_does_not_quote_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "config", f"users:\n- name: u\n  user:\n    token: {TOKEN}\n   bad: [\n")
    message = error(Config.from_kubeconfig, path)
    assert message.startswith(f"{path}: invalid YAML at line ")
    assert TOKEN not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "a kubeconfig must be a mapping, got list"),
        ("clusters: {}\n", "clusters: expected a list, got dict"),
        ("clusters: [5]\n", "clusters[0]: expected a mapping, got int"),
        ("users:\n- user: {}\n", "users[0].name: missing or not a string"),
        ("contexts:\n- name: x\n  context: [1]\n", "contexts[0].context: expected a mapping, got list"),
        ("current-context: [x]\n", "current-context: expected a string, got list"),
    ],
)
def test_malformed_kubeconfig(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "config", text)
    assert error(Config.from_kubeconfig, path) == f"{path}: {expected}"


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    assert error(Config.from_kubeconfig, tmp_path / "nope") == f"{tmp_path / 'nope'}: file not found"
    path = tmp_path / "latin1"
    path.write_bytes(b"current-context: caf\xe9\n")
    assert error(Config.from_kubeconfig, path) == f"{path}: not UTF-8 text"


def test_empty_kubeconfig_has_no_context(tmp_path: Path) -> None:
    path = write(tmp_path / "config", "")
    assert error(Config.from_kubeconfig, path) == (
        f"{path}: current-context is not set; choose a context (no contexts defined)"
    )


@pytest.mark.parametrize(
    ("cluster", "user", "expected"),
    [
        ({}, {}, "clusters[0].cluster.server: missing"),
        ({"server": "ftp://x"}, {}, 'clusters[0].cluster.server: "ftp://x" is not an http(s) URL with a host'),
        ({"server": "https://x:port"}, {}, 'clusters[0].cluster.server: "https://x:port" is not a valid URL'),
        (
            {"server": "https://x", "certificate-authority-data": "!!"},
            {},
            "certificate-authority-data: not valid base64",
        ),
        (
            {"server": "https://x", "certificate-authority": "/nonexistent/ca.crt"},
            {},
            "certificate-authority: file /nonexistent/ca.crt not found",
        ),
        (
            {"server": "https://x", "certificate-authority-data": b64("CA"), "insecure-skip-tls-verify": True},
            {},
            "clusters[0].cluster: insecure-skip-tls-verify cannot be combined with a certificate authority",
        ),
        (
            {"server": "https://x", "insecure-skip-tls-verify": "yes"},
            {},
            "insecure-skip-tls-verify: expected true or false, got str",
        ),
        ({"server": "https://x", "proxy-url": "ftp://p"}, {}, 'proxy-url: scheme "ftp" is not supported'),
        (
            {"server": "https://x"},
            {"client-certificate": "/x/y"},
            "users[0].user.client-certificate: file /x/y not found",
        ),
        (
            {"server": "https://x"},
            {"client-certificate-data": b64("-----BEGIN CERTIFICATE-----")},
            "users[0].user: client-certificate is set but client-key is not",
        ),
        (
            {"server": "https://x"},
            {"client-certificate-data": b64("x"), "client-key-data": b64("PRIVATE KEY-----")},
            "users[0].user.client-certificate: no PEM certificate found",
        ),
        (
            {"server": "https://x"},
            {"client-key-data": "not base64!"},
            "users[0].user.client-key-data: not valid base64",
        ),
        (
            {"server": "https://x"},
            {"token": "t", "username": "u", "password": "p"},
            'users[0].user: user "u" has both a token and a username/password',
        ),
        ({"server": "https://x"}, {"token": 12}, "users[0].user.token: expected a string, got int"),
        (
            {"server": "https://x"},
            {"tokenFile": "/nonexistent/token"},
            "users[0].user.tokenFile: token file /nonexistent/token not found",
        ),
        (
            {"server": "https://x"},
            {"auth-provider": {"name": "gcp", "config": {"access-token": TOKEN}}},
            'users[0].user.auth-provider: user "u" uses the legacy auth-provider "gcp"',
        ),
        ({"server": "https://x"}, {"exec": {"command": "x"}}, "users[0].user.exec.apiVersion: missing"),
        ({"server": "https://x"}, {"exec": {"apiVersion": V1}}, "users[0].user.exec.command: missing"),
        (
            {"server": "https://x"},
            {"exec": {"command": "x", "apiVersion": "client.authentication.k8s.io/v1alpha1"}},
            'exec.apiVersion: "client.authentication.k8s.io/v1alpha1" is not supported',
        ),
        (
            {"server": "https://x"},
            {"exec": {"command": "x", "apiVersion": V1, "interactiveMode": "Always"}},
            "exec.interactiveMode: Always needs an interactive terminal",
        ),
        (
            {"server": "https://x"},
            {"exec": {"command": "x", "apiVersion": V1, "env": [{"value": "v"}]}},
            "exec.env[0]: expected a mapping with a string name",
        ),
        ({"server": "https://x"}, {"as-groups": ["g"]}, "users[0].user: as-uid, as-groups and as-user-extra need as"),
        (
            {"server": "https://x"},
            {"as-user-extra": {"k": "v"}},
            "users[0].user.as-user-extra: expected a mapping of string to list of strings",
        ),
    ],
)
def test_field_errors_name_the_file_and_key(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], expected: str
) -> None:
    path = write(tmp_path / "config", simple(user or None))
    path = write(path, {**yaml.safe_load(path.read_text()), "clusters": [{"name": "c", "cluster": cluster}]})
    message = error(Config.from_kubeconfig, path)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert TOKEN not in message


def test_token_plus_token_file_prefers_the_file(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("from-file")
    config = Config.from_kubeconfig(write(tmp_path / "config", simple({"token": "inline", "tokenFile": "tok"})))
    assert config.auth.headers() == {"Authorization": "Bearer from-file"}


def test_data_fields_win_over_files(tmp_path: Path, pki: Pki) -> None:
    doc = simple(
        {
            "client-certificate-data": b64(pki.client_cert_pem),
            "client-key-data": b64(pki.client_key_pem),
            "client-certificate": "/nope",
            "client-key": "/nope",
        }
    )
    doc["clusters"][0]["cluster"].update(
        {"certificate-authority-data": b64(pki.ca_pem), "certificate-authority": "/nope"}
    )
    config = Config.from_kubeconfig(write(tmp_path / "config", doc))
    assert config.ca_data == pki.ca_pem
    assert config.auth.client_cert() == ClientCert(pki.client_cert_pem, pki.client_key_pem)
    assert type(config.auth) is Auth


def test_from_kubeconfig_text(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("t")
    text = yaml.safe_dump(simple({"tokenFile": "tok"}))
    config = Config.from_kubeconfig_text(text, base_dir=tmp_path, namespace="ns")
    assert config.namespace == "ns"
    assert config.auth.headers() == {"Authorization": "Bearer t"}
    assert error(Config.from_kubeconfig_text, "a: [").startswith("<kubeconfig text>: invalid YAML")


# -- secrets stay secret -----------------------------------------------------------------------------------------


def test_repr_and_str_hold_no_secrets(tmp_path: Path, pki: Pki) -> None:
    key_line = pki.client_key_pem.decode().splitlines()[1]
    for user in (
        {"token": TOKEN},
        {"username": "bob", "password": PASSWORD},
        {
            "client-certificate-data": b64(pki.client_cert_pem),
            "client-key-data": b64(pki.client_key_pem),
            "token": TOKEN,
        },
    ):
        config = Config.from_kubeconfig(write(tmp_path / "config", simple(user)))
        for text in (repr(config), str(config), repr(config.auth), repr(config.auth.client_cert())):
            assert TOKEN not in text
            assert PASSWORD not in text
            assert key_line not in text
            assert b64(f"bob:{PASSWORD}") not in text
        assert "k.example" in repr(config)


# -- proxies ----------------------------------------------------------------------------------------------------


def test_proxy_url_from_the_cluster_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:3128")
    doc = simple()
    doc["clusters"][0]["cluster"]["proxy-url"] = "socks5://localhost:1080"
    assert Config.from_kubeconfig(write(tmp_path / "config", doc)).proxy == "socks5://localhost:1080"


@pytest.mark.parametrize(
    ("server", "env", "expected"),
    [
        ("https://k.example:6443", {}, None),
        ("https://k.example:6443", {"HTTPS_PROXY": "http://p:3128"}, "http://p:3128"),
        ("https://k.example:6443", {"https_proxy": "p:3128"}, "http://p:3128"),
        ("https://k.example:6443", {"HTTPS_PROXY": "http://upper", "https_proxy": "http://lower"}, "http://upper"),
        ("https://k.example:6443", {"HTTP_PROXY": "http://p:3128"}, None),
        ("http://k.example:8080", {"HTTP_PROXY": "http://p:3128"}, "http://p:3128"),
        ("https://k.example:6443", {"HTTPS_PROXY": "http://p", "NO_PROXY": "ample"}, "http://p"),
        ("https://k.example:6443", {"HTTPS_PROXY": "http://p", "NO_PROXY": "example"}, None),
        ("https://k.example:6443", {"HTTPS_PROXY": "http://p", "NO_PROXY": "other, example"}, None),
        ("https://k.example:6443", {"HTTPS_PROXY": "http://p", "NO_PROXY": "k.example"}, None),
        ("https://k.example:6443", {"HTTPS_PROXY": "http://p", "NO_PROXY": ".k.example"}, "http://p"),
        ("https://k.example:6443", {"HTTPS_PROXY": "http://p", "NO_PROXY": "*.example"}, None),
        ("https://k.example:6443", {"HTTPS_PROXY": "http://p", "no_proxy": "k.example:6443"}, None),
        ("https://k.example:6443", {"HTTPS_PROXY": "http://p", "NO_PROXY": "k.example:443"}, "http://p"),
        ("https://K.Example.:6443", {"HTTPS_PROXY": "http://p", "NO_PROXY": "k.example"}, None),
        ("https://10.1.2.3", {"HTTPS_PROXY": "http://p", "NO_PROXY": "10.0.0.0/8"}, None),
        ("https://10.1.2.3", {"HTTPS_PROXY": "http://p", "NO_PROXY": "10.1.2.3"}, None),
        ("https://10.1.2.3", {"HTTPS_PROXY": "http://p", "NO_PROXY": "192.168.0.0/16"}, "http://p"),
        ("https://[fd00::1]:6443", {"HTTPS_PROXY": "http://p", "NO_PROXY": "fd00::/8"}, None),
        ("https://[fd00::1]:6443", {"HTTPS_PROXY": "http://p", "NO_PROXY": "[fd00::1]:6443"}, None),
        ("https://k.example", {"HTTPS_PROXY": "http://p", "NO_PROXY": "*"}, None),
        ("https://127.0.0.1:6443", {"HTTPS_PROXY": "http://p"}, None),
        ("https://localhost:6443", {"HTTPS_PROXY": "http://p"}, None),
    ],
)
def test_proxy_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str, env: dict[str, str], expected: str | None
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Config.from_kubeconfig(write(tmp_path / "config", simple(server=server))).proxy == expected


# -- impersonation ----------------------------------------------------------------------------------------------


def test_impersonation_headers(tmp_path: Path) -> None:
    user = {
        "token": TOKEN,
        "as": "jane",
        "as-uid": "1234",
        "as-groups": ["devs", "ops"],
        "as-user-extra": {"reason": ["debug"], "example.com/scopes": ["view", "edit"], "a b": ["c"]},
    }
    config = Config.from_kubeconfig(write(tmp_path / "config", simple(user)))
    assert config.impersonate == (
        ("Impersonate-User", "jane"),
        ("Impersonate-Uid", "1234"),
        ("Impersonate-Group", "devs"),
        ("Impersonate-Group", "ops"),
        ("Impersonate-Extra-a%20b", "c"),
        ("Impersonate-Extra-example.com%2Fscopes", "view"),
        ("Impersonate-Extra-example.com%2Fscopes", "edit"),
        ("Impersonate-Extra-reason", "debug"),
    )


# -- TLS ----------------------------------------------------------------------------------------------------------


def test_direct_config_normalizes_the_server() -> None:
    assert Config(server="k.example:6443/").server == "https://k.example:6443"
    assert error(Config, server="https://") == 'server: "https://" is not an http(s) URL with a host'


def test_ssl_context_verifies_by_default() -> None:
    ctx = Config(server="https://k.example").ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_ssl_context_insecure() -> None:
    ctx = Config(server="https://k.example", insecure_skip_tls_verify=True).ssl_context()
    assert ctx.verify_mode == ssl.CERT_NONE
    assert ctx.check_hostname is False


def test_ssl_context_loads_ca_and_client_cert(pki: Pki) -> None:
    config = Config(
        server="https://k.example",
        ca_data=pki.ca_pem,
        auth=Auth(client_cert=ClientCert(pki.client_cert_pem, pki.client_key_pem)),
    )
    ctx = config.ssl_context()
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "k8spb test CA"),),)]
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_ssl_context_errors(pki: Pki) -> None:
    bad_ca = Config(server="https://k", ca_data=b"garbage", source="cfg")
    assert error(bad_ca.ssl_context).startswith("cfg: certificate authority data is not valid PEM")
    mismatch = Config(server="https://k", auth=Auth(client_cert=ClientCert(pki.client_cert_pem, pki.other_key_pem)))
    message = error(mismatch.ssl_context)
    assert message.startswith("config: cannot use the client certificate and key")
    encrypted = Config(
        server="https://k", auth=Auth(client_cert=ClientCert(pki.client_cert_pem, pki.encrypted_client_key_pem))
    )
    assert "encrypted with a passphrase" in error(encrypted.ssl_context)


def test_client_cert_without_memfd_uses_private_temp_files(
    pki: Pki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delattr(os, "memfd_create")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    seen: list[tuple[str, int]] = []
    real_load = ssl.SSLContext.load_cert_chain

    def spying_load(self: ssl.SSLContext, certfile: str, keyfile: str, password: Any = None) -> None:
        seen.append((keyfile, os.stat(keyfile).st_mode & 0o777))
        seen.append((os.path.dirname(keyfile), os.stat(os.path.dirname(keyfile)).st_mode & 0o777))
        real_load(self, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spying_load)
    Config(server="https://k", auth=Auth(client_cert=ClientCert(pki.client_cert_pem, pki.client_key_pem))).ssl_context()
    (key_file, key_mode), (key_dir, dir_mode) = seen
    assert key_file.startswith(str(tmp))
    assert (key_mode, dir_mode) == (0o600, 0o700)
    assert not os.path.exists(key_dir)  # gone right after loading
    assert list(tmp.iterdir()) == []


@pytest.fixture
def tls_files(tmp_path: Path, pki: Pki) -> tuple[str, str, str]:
    d = tmp_path / "server-tls"
    d.mkdir()
    (d / "cert.pem").write_bytes(pki.server_cert_pem)
    (d / "key.pem").write_bytes(pki.server_key_pem)
    (d / "ca.pem").write_bytes(pki.ca_pem)
    return str(d / "cert.pem"), str(d / "key.pem"), str(d / "ca.pem")


def test_real_handshake_with_client_certificate(pki: Pki, tls_files: tuple[str, str, str], tmp_path: Path) -> None:
    doc = simple({"client-certificate-data": b64(pki.client_cert_pem), "client-key-data": b64(pki.client_key_pem)})
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = b64(pki.ca_pem)
    config = Config.from_kubeconfig(write(tmp_path / "config", doc))
    server = OneShotTLSServer(pki, *tls_files)
    assert handshake(config.ssl_context(), server.port, "127.0.0.1") == b"alice"
    result = server.join()
    assert result.server_error is None
    assert result.client_cn == "alice"


def test_real_handshake_with_exec_plugin_certificate(pki: Pki, tls_files: tuple[str, str, str], tmp_path: Path) -> None:
    status = {"clientCertificateData": pki.client_cert_pem.decode(), "clientKeyData": pki.client_key_pem.decode()}
    script = write_plugin(tmp_path / "plugin", f"emit({status!r})")
    doc = simple({"exec": {"apiVersion": V1, "command": sys.executable, "args": [str(script)]}})
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = b64(pki.ca_pem)
    config = Config.from_kubeconfig(write(tmp_path / "config", doc))
    server = OneShotTLSServer(pki, *tls_files)
    assert handshake(config.ssl_context(), server.port, "127.0.0.1") == b"alice"
    assert server.join().client_cn == "alice"


def test_tls_server_name_is_checked_and_sent(pki: Pki, tls_files: tuple[str, str, str]) -> None:
    plain = Config(server="https://wrong.example", ca_data=pki.ca_pem)
    server = OneShotTLSServer(pki, *tls_files)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(plain.ssl_context(), server.port, "wrong.example")
    server.join()

    named = Config(server="https://wrong.example", ca_data=pki.ca_pem, tls_server_name=SERVER_NAME)
    server = OneShotTLSServer(pki, *tls_files)
    assert handshake(named.ssl_context(), server.port, "wrong.example") == b"-"  # no client cert
    assert server.join().sni == SERVER_NAME


def test_default_verification_rejects_an_unknown_ca(pki: Pki, tls_files: tuple[str, str, str]) -> None:
    server = OneShotTLSServer(pki, *tls_files)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(Config(server="https://127.0.0.1").ssl_context(), server.port, "127.0.0.1")
    server.join()
