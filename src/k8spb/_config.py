"""Client configuration: where the API server is, how to trust it and how to authenticate to it.

:meth:`Config.infer` finds it the way kubectl and client-go do: the files in ``KUBECONFIG``, else
``~/.kube/config``, else the pod's service account when running in a cluster.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Final, TypeAlias
from urllib.parse import quote, urlsplit

from k8spb._auth import (
    EXEC_API_VERSIONS,
    Auth,
    BasicAuth,
    ClientCert,
    ExecAuth,
    ExecPlugin,
    TokenAuth,
    TokenFileAuth,
    scrub,
)
from k8spb._errors import ConfigError

__all__ = ["SERVICE_ACCOUNT_DIR", "Config", "redact_url"]

_log = logging.getLogger("k8spb.config")

#: Where Kubernetes mounts a pod's service account token, CA and namespace.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

_EXEC_EXTENSION: Final = "client.authentication.k8s.io/exec"
_PROXY_SCHEMES: Final = ("http", "https", "socks5", "socks5h")
# RFC 7230 token characters, except "%", which escapes the others in Impersonate-Extra-<key>.
_HEADER_KEY_SAFE: Final = "!#$&'*+-.^_`|~"

_StrPath: TypeAlias = "str | os.PathLike[str]"


@dataclass
class Config:
    """Everything a client needs to reach one API server as one user.

    Build it with :meth:`infer`, :meth:`from_kubeconfig`, :meth:`from_kubeconfig_text` or
    :meth:`incluster`, or directly. ``impersonate`` holds the ``Impersonate-*`` headers to send with
    every request (``Impersonate-Group`` may repeat). ``proxy`` is already resolved from the
    kubeconfig and the proxy environment variables, so an HTTP client should not read those again.

    Limits: ``timeout`` is the most one call may take, retries and reading the body included (a watch
    or a followed log is bounded by it only until its response starts; then by the server's
    ``timeoutSeconds`` plus 30 s of silence at most); ``read_timeout`` is the most one read may wait for
    data (None: only ``timeout`` bounds it). ``max_response_bytes`` caps a response body as received,
    ``max_decompressed_bytes`` after its Content-Encoding is undone (watch streams are endless: there
    each event is capped instead, at 16 MiB). ``disable_compression`` (kubeconfig
    ``disable-compression``) stops asking for gzip.
    """

    server: str
    _: KW_ONLY
    namespace: str = "default"
    ca_data: bytes | None = field(default=None, repr=False)  # PEM; None means the system's roots
    tls_server_name: str | None = None
    insecure_skip_tls_verify: bool = False
    auth: Auth = field(default_factory=Auth)
    proxy: str | None = None
    impersonate: tuple[tuple[str, str], ...] = ()
    disable_compression: bool = False
    timeout: float | None = 30.0  # seconds per call, retries included; None for no limit
    read_timeout: float | None = None  # seconds one read may wait for data; None: only timeout
    max_response_bytes: int = 4 << 30  # one response body as received
    max_decompressed_bytes: int = 4 << 30  # one response body once gunzipped
    context: str | None = None  # the kubeconfig context used, if any
    source: str | None = None  # where this came from, for messages

    def __post_init__(self) -> None:
        self.server = _normalize_server(self.server, self.source or "server")

    def __repr__(self) -> str:
        shown = [f"server={redact_url(self.server)!r}", f"namespace={self.namespace!r}"]
        if self.context is not None:
            shown.append(f"context={self.context!r}")
        shown.append(f"auth={self.auth!r}")
        if self.proxy is not None:
            shown.append(f"proxy={redact_url(self.proxy)!r}")
        if self.insecure_skip_tls_verify:
            shown.append("insecure_skip_tls_verify=True")
        return f"Config({', '.join(shown)})"

    # -- loading ---------------------------------------------------------------------------------------

    @classmethod
    def infer(cls) -> Config:
        """The files in ``KUBECONFIG``, else ``~/.kube/config``, else in-cluster configuration.

        A kubeconfig that exists but is broken is an error; it does not fall back to in-cluster.
        """
        env_files = _kubeconfig_env_files()
        if env_files:
            existing = [p for p in env_files if os.path.isfile(p)]
            if existing:
                return cls._from_files(existing)
            if not _in_cluster():
                raise ConfigError(
                    "no configuration found: none of the KUBECONFIG files exist"
                    f" ({os.pathsep.join(env_files)})"
                    " and KUBERNETES_SERVICE_HOST is not set (not running in a cluster)"
                )
        else:
            default = _default_kubeconfig()
            if os.path.isfile(default):
                return cls._from_files([default])
            if not _in_cluster():
                raise ConfigError(
                    f"no configuration found: KUBECONFIG is not set, {_display(default)} does not exist"
                    " and KUBERNETES_SERVICE_HOST is not set (not running in a cluster)"
                )
        return cls.incluster()

    @classmethod
    def from_kubeconfig(
        cls,
        path: _StrPath | Sequence[_StrPath] | None = None,
        *,
        context: str | None = None,
        cluster: str | None = None,
        user: str | None = None,
        namespace: str | None = None,
    ) -> Config:
        """Load a kubeconfig: ``path`` (one file or several, merged), else ``KUBECONFIG``, else
        ``~/.kube/config``. The keyword arguments override the selected context's parts.
        """
        if path is None:
            files = [p for p in _kubeconfig_env_files() if os.path.isfile(p)]
            if not files:
                default = _default_kubeconfig()
                if "KUBECONFIG" in os.environ and os.environ["KUBECONFIG"].strip():
                    raise ConfigError(f"none of the KUBECONFIG files exist ({os.environ['KUBECONFIG']})")
                files = [default]
        elif isinstance(path, str | os.PathLike):
            files = [os.fspath(path)]
        else:
            files = [os.fspath(p) for p in path]
        return cls._from_files(files, context=context, cluster=cluster, user=user, namespace=namespace)

    @classmethod
    def from_kubeconfig_text(
        cls,
        text: str,
        *,
        base_dir: _StrPath | None = None,
        context: str | None = None,
        cluster: str | None = None,
        user: str | None = None,
        namespace: str | None = None,
    ) -> Config:
        """Load a kubeconfig from YAML text; relative paths in it are relative to ``base_dir`` (or cwd)."""
        directory = os.path.abspath(os.fspath(base_dir) if base_dir is not None else os.getcwd())
        kubeconfig = _Kubeconfig()
        kubeconfig.add(_parse_yaml(text, "<kubeconfig text>"), "<kubeconfig text>", directory)
        return kubeconfig.select(context=context, cluster=cluster, user=user, namespace=namespace)

    @classmethod
    def _from_files(
        cls,
        files: Sequence[str],
        *,
        context: str | None = None,
        cluster: str | None = None,
        user: str | None = None,
        namespace: str | None = None,
    ) -> Config:
        kubeconfig = _Kubeconfig()
        seen: set[str] = set()
        for name in files:
            path = os.path.abspath(name)
            if path in seen:
                continue
            seen.add(path)
            kubeconfig.add(_read_yaml(path), _display(path), os.path.dirname(path))
        return kubeconfig.select(context=context, cluster=cluster, user=user, namespace=namespace)

    @classmethod
    def incluster(cls, *, service_account_dir: _StrPath | None = None) -> Config:
        """The configuration of a pod: ``KUBERNETES_SERVICE_HOST``/``_PORT`` and the service account
        files (``token``, re-read as the kubelet rotates it; ``ca.crt``; ``namespace``).
        """
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "").strip()
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "").strip()
        if not host or not port:
            raise ConfigError(
                "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set"
                " (not running in a cluster?)"
            )
        if not port.isdigit():
            raise ConfigError(f"in-cluster: KUBERNETES_SERVICE_PORT {_q(port)} is not a port number")
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        directory = os.fspath(service_account_dir) if service_account_dir is not None else SERVICE_ACCOUNT_DIR
        auth = TokenFileAuth(os.path.join(directory, "token"), source="in-cluster")
        ca_path = os.path.join(directory, "ca.crt")
        ca_data: bytes | None = None
        try:
            with open(ca_path, "rb") as f:
                ca_data = f.read()
        except OSError as exc:
            _log.warning("in-cluster: cannot read %s (%s); trusting the system's CAs", ca_path, exc.strerror)
        namespace = "default"
        try:
            with open(os.path.join(directory, "namespace"), encoding="utf-8") as f:
                namespace = f.read().strip() or "default"
        except (OSError, UnicodeDecodeError):
            pass
        server = f"https://{host}:{port}"
        return cls(
            server=server,
            namespace=namespace,
            ca_data=ca_data,
            auth=auth,
            proxy=_proxy_from_env(server),
            source="in-cluster",
        )

    # -- TLS -------------------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context for the server: verifies it against ``ca_data`` (or the system's CAs) unless
        ``insecure_skip_tls_verify``, checks ``tls_server_name`` if set, and presents the client
        certificate of ``auth``. May run an exec plugin that provides certificates.
        """
        where = self.source or "config"
        ctx: ssl.SSLContext
        if self.tls_server_name:
            ctx = _ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.server_name = self.tls_server_name
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            try:
                ctx.load_verify_locations(cadata=self.ca_data.decode("ascii"))
            except (UnicodeDecodeError, ssl.SSLError) as exc:
                why = exc.reason if isinstance(exc, ssl.SSLError) else "not PEM text"
                raise ConfigError(f"{where}: certificate authority data is not valid PEM ({why})") from None
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        cert = self.auth.client_cert()
        if cert is not None:
            _load_client_cert(ctx, cert, where)
        return ctx


class _ServerNameContext(ssl.SSLContext):
    """An SSLContext that checks (and sends as SNI) ``server_name`` instead of the host connected to."""

    server_name: str

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side,
            do_handshake_on_connect,
            suppress_ragged_eofs,
            server_hostname if server_side else self.server_name,
            session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return super().wrap_bio(
            incoming, outgoing, server_side, server_hostname if server_side else self.server_name, session
        )


def _refuse_password() -> bytes:
    raise ConfigError("the client key is encrypted with a passphrase, which kubeconfig does not support")


def _load_client_cert(ctx: ssl.SSLContext, cert: ClientCert, where: str) -> None:
    """Load a certificate and key held in memory: through memfd files where the OS has them,
    otherwise through 0600 files in a private temporary directory, deleted at once.
    """
    try:
        with _key_files(cert) as (cert_path, key_path):
            ctx.load_cert_chain(cert_path, key_path, password=_refuse_password)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except ssl.SSLError as exc:
        raise ConfigError(f"{where}: cannot use the client certificate and key ({exc.reason})") from None


class _key_files:
    """Context manager yielding two paths holding the certificate and the key, removed on exit."""

    def __init__(self, cert: ClientCert) -> None:
        self._cert = cert
        self._fds: list[int] = []
        self._dir: Any = None  # a tempfile.TemporaryDirectory

    def __enter__(self) -> tuple[str, str]:
        if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
            try:
                paths = []
                for data in (self._cert.cert_pem, self._cert.key_pem):
                    fd = os.memfd_create("k8spb-tls", os.MFD_CLOEXEC)
                    self._fds.append(fd)
                    _write_all(fd, data)
                    paths.append(f"/proc/self/fd/{fd}")
                return paths[0], paths[1]
            except OSError:
                self._close()
        import tempfile

        self._dir = tempfile.TemporaryDirectory(prefix="k8spb-")  # mode 0700
        paths = []
        for name, data in (("cert.pem", self._cert.cert_pem), ("key.pem", self._cert.key_pem)):
            path = os.path.join(self._dir.name, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            paths.append(path)
        return paths[0], paths[1]

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# -- kubeconfig ------------------------------------------------------------------------------------------


def _kubeconfig_env_files() -> list[str]:
    value = os.environ.get("KUBECONFIG", "")
    return [p for p in value.split(os.pathsep) if p.strip()]


def _default_kubeconfig() -> str:
    return os.path.join(os.path.expanduser("~"), ".kube", "config")


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST") and os.environ.get("KUBERNETES_SERVICE_PORT"))


def _display(path: str) -> str:
    """``path`` with the home directory shown as ``~``."""
    home = os.path.expanduser("~")
    if home not in ("", "~", os.sep) and path.startswith(home + os.sep):
        return "~" + path[len(home) :]
    return path


def _read_yaml(path: str) -> Any:
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{_display(path)}: file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{_display(path)}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{_display(path)}: cannot read: {exc.strerror}") from None
    return _parse_yaml(text, _display(path))


def _parse_yaml(text: str, label: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Only the problem and position, scrubbed: the parser's messages quote the file (an undefined
        # alias names what follows its "*", which may be an unquoted password).
        problem = re.sub(r"'[^']*'|\"[^\"]*\"", "<redacted>", getattr(exc, "problem", None) or "cannot parse")
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{label}: invalid YAML{at}: {scrub(problem)}") from None


@dataclass(frozen=True)
class _Entry:
    """A typed view of one kubeconfig object, with where it came from for error messages."""

    data: Mapping[str, Any]
    label: str  # the file, as shown in messages
    directory: str  # relative paths are relative to this
    key: str  # e.g. "users[1].user"

    def where(self, name: str | None = None) -> str:
        return f"{self.label}: {self.key}.{name}" if name else f"{self.label}: {self.key}"

    def error(self, name: str | None, message: str) -> ConfigError:
        return ConfigError(f"{self.where(name)}: {message}")

    def text(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {type(value).__name__}")
        return value

    def flag(self, name: str) -> bool:
        value = self.data.get(name)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {type(value).__name__}")
        return value

    def texts(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(name, "expected a list of strings")
        return value

    def child(self, name: str) -> _Entry | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(name, f"expected a mapping, got {type(value).__name__}")
        return _Entry(value, self.label, self.directory, f"{self.key}.{name}")

    def path(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        return os.path.normpath(os.path.join(self.directory, os.path.expanduser(value)))

    def read(self, name: str) -> bytes | None:
        """The content of the file named by key ``name``."""
        path = self.path(name)
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise self.error(name, f"file {path} not found") from None
        except OSError as exc:
            raise self.error(name, f"cannot read {path}: {exc.strerror}") from None

    def base64(self, name: str) -> bytes | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise self.error(name, "not valid base64") from None

    def data_or_file(self, name: str) -> bytes | None:
        """``<name>-data`` (base64) if set, else the file ``<name>``: kubectl's precedence."""
        data = self.base64(f"{name}-data")
        return data if data is not None else self.read(name)


def _named_entries(doc: Mapping[str, Any], label: str, directory: str, section: str) -> Iterator[tuple[str, _Entry]]:
    """The ``(name, body)`` pairs of a ``clusters``/``users``/``contexts`` list."""
    items = doc.get(section)
    if items is None:
        return
    if not isinstance(items, list):
        raise ConfigError(f"{label}: {section}: expected a list, got {type(items).__name__}")
    body_key = section[:-1]
    for i, item in enumerate(items):
        where = f"{section}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{label}: {where}: expected a mapping, got {type(item).__name__}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{label}: {where}.name: missing or not a string")
        body = item.get(body_key)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ConfigError(f"{label}: {where}.{body_key}: expected a mapping, got {type(body).__name__}")
        yield name, _Entry(body, label, directory, f"{where}.{body_key}")


class _Kubeconfig:
    """Kubeconfig files merged by kubectl's rules: the first file to define a name or to set
    ``current-context`` wins.
    """

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.clusters: dict[str, _Entry] = {}
        self.users: dict[str, _Entry] = {}
        self.contexts: dict[str, _Entry] = {}
        self.current_context: str | None = None

    def add(self, doc: Any, label: str, directory: str) -> None:
        self.labels.append(label)
        if doc is None:
            return  # an empty file is an empty kubeconfig
        if not isinstance(doc, dict):
            raise ConfigError(f"{label}: a kubeconfig must be a mapping, got {type(doc).__name__}")
        for section, merged in (
            ("clusters", self.clusters),
            ("users", self.users),
            ("contexts", self.contexts),
        ):
            for name, entry in _named_entries(doc, label, directory, section):
                merged.setdefault(name, entry)
        current = doc.get("current-context")
        if current is not None and not isinstance(current, str):
            raise ConfigError(f"{label}: current-context: expected a string, got {type(current).__name__}")
        if current and self.current_context is None:
            self.current_context = current

    @property
    def label(self) -> str:
        return os.pathsep.join(self.labels)

    def select(
        self,
        *,
        context: str | None = None,
        cluster: str | None = None,
        user: str | None = None,
        namespace: str | None = None,
    ) -> Config:
        context_name = context or self.current_context
        ctx: _Entry | None = None
        if context_name:
            ctx = self.contexts.get(context_name)
            if ctx is None:
                raise ConfigError(
                    f"{self.label}: context {_q(context_name)} not found {_names('contexts', self.contexts)}"
                )
        elif cluster is None:
            raise ConfigError(
                f"{self.label}: current-context is not set; choose a context {_names('contexts', self.contexts)}"
            )
        cluster_name = cluster or (ctx.text("cluster") if ctx else None)
        if not cluster_name:
            assert ctx is not None
            raise ctx.error("cluster", "missing")
        cluster_entry = self.clusters.get(cluster_name)
        if cluster_entry is None:
            prefix = ctx.where("cluster") if ctx and not cluster else self.label
            raise ConfigError(f"{prefix}: cluster {_q(cluster_name)} not found {_names('clusters', self.clusters)}")
        user_name = user or (ctx.text("user") if ctx else None)
        user_entry: _Entry | None = None
        if user_name:
            user_entry = self.users.get(user_name)
            if user_entry is None:
                prefix = ctx.where("user") if ctx and not user else self.label
                raise ConfigError(f"{prefix}: user {_q(user_name)} not found {_names('users', self.users)}")
        source = f"{self.label} (context {context_name})" if context_name else self.label
        return _build(
            cluster_entry,
            user_entry,
            user_name,
            namespace=namespace or (ctx.text("namespace") if ctx else None) or "default",
            context=context_name,
            source=source,
        )


def _q(text: str) -> str:
    """``text`` in double quotes, as messages show names."""
    return json.dumps(text, ensure_ascii=False)


def _names(what: str, entries: Mapping[str, object]) -> str:
    """``(contexts: a, b)``: the names defined, for "not found" messages."""
    return f"({what}: {', '.join(sorted(entries))})" if entries else f"(no {what} defined)"


def _build(
    cluster: _Entry,
    user: _Entry | None,
    user_name: str | None,
    *,
    namespace: str,
    context: str | None,
    source: str,
) -> Config:
    server_value = cluster.text("server")
    if server_value is None:
        raise cluster.error("server", "missing")
    server = _normalize_server(server_value, cluster.where("server"))
    ca_data = cluster.data_or_file("certificate-authority")
    insecure = cluster.flag("insecure-skip-tls-verify")
    if insecure and ca_data is not None:
        raise cluster.error(
            None, "insecure-skip-tls-verify cannot be combined with a certificate authority (choose one)"
        )
    tls_server_name = cluster.text("tls-server-name")
    disable_compression = cluster.flag("disable-compression")
    proxy_url = cluster.text("proxy-url")
    if proxy_url is not None:
        scheme = urlsplit(proxy_url).scheme
        if scheme not in _PROXY_SCHEMES:
            raise cluster.error("proxy-url", f"scheme {_q(scheme)} is not supported (http, https, socks5)")
        proxy: str | None = proxy_url
    else:
        proxy = _proxy_from_env(server)

    exec_cluster: dict[str, Any] = {"server": server}
    if tls_server_name:
        exec_cluster["tls-server-name"] = tls_server_name
    if insecure:
        exec_cluster["insecure-skip-tls-verify"] = True
    if ca_data:
        exec_cluster["certificate-authority-data"] = base64.b64encode(ca_data).decode("ascii")
    if proxy_url:
        exec_cluster["proxy-url"] = proxy_url
    if disable_compression:
        exec_cluster["disable-compression"] = True
    extension = _exec_extension(cluster)
    if extension is not None:
        exec_cluster["config"] = extension

    auth: Auth = Auth()
    impersonate: tuple[tuple[str, str], ...] = ()
    if user is not None:
        auth = _auth(user, user_name or "", exec_cluster)
        impersonate = _impersonation(user)
    return Config(
        server=server,
        namespace=namespace,
        ca_data=ca_data,
        tls_server_name=tls_server_name,
        insecure_skip_tls_verify=insecure,
        auth=auth,
        proxy=proxy,
        impersonate=impersonate,
        disable_compression=disable_compression,
        context=context,
        source=source,
    )


def _exec_extension(cluster: _Entry) -> Any:
    """The cluster's ``client.authentication.k8s.io/exec`` extension, passed to exec plugins."""
    extensions = cluster.data.get("extensions")
    if not isinstance(extensions, list):
        return None
    for item in extensions:
        if isinstance(item, dict) and item.get("name") == _EXEC_EXTENSION:
            return item.get("extension")
    return None


def _auth(user: _Entry, name: str, exec_cluster: Mapping[str, Any]) -> Auth:
    if user.data.get("auth-provider") is not None:
        provider = user.child("auth-provider")
        kind = provider.text("name") if provider else None
        raise user.error(
            "auth-provider",
            f"user {_q(name)} uses the legacy auth-provider{' ' + _q(kind) if kind else ''},"
            " which k8spb does not support;"
            " use an exec credential plugin instead (e.g. gke-gcloud-auth-plugin, kubelogin)",
        )
    cert_pem = user.data_or_file("client-certificate")
    key_pem = user.data_or_file("client-key")
    if (cert_pem is None) != (key_pem is None):
        missing = "client-key" if key_pem is None else "client-certificate"
        present = "client-certificate" if key_pem is None else "client-key"
        raise user.error(None, f"{present} is set but {missing} is not (set both, or their -data forms)")
    client_cert: ClientCert | None = None
    if cert_pem is not None and key_pem is not None:
        if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
            raise user.error("client-certificate", "no PEM certificate found")
        if b"PRIVATE KEY-----" not in key_pem:
            raise user.error("client-key", "no PEM private key found")
        client_cert = ClientCert(cert_pem, key_pem)

    token = user.text("token")
    token_file = user.path("tokenFile")
    username = user.text("username")
    password = user.text("password")
    if (token or token_file) and (username or password):
        raise user.error(None, f"user {_q(name)} has both a token and a username/password; only one method is allowed")
    if token_file is not None:
        return TokenFileAuth(token_file, client_cert=client_cert, source=user.where("tokenFile"))
    if token is not None:
        try:
            return TokenAuth(token, client_cert=client_cert)
        except ConfigError:
            raise user.error("token", "not a valid bearer token (contains line breaks)") from None
    if username is not None or password is not None:
        return BasicAuth(username or "", password or "", client_cert=client_cert)
    exec_entry = user.child("exec")
    if exec_entry is not None:
        return ExecAuth(_exec_plugin(exec_entry, exec_cluster), client_cert=client_cert, source=exec_entry.where())
    return Auth(client_cert=client_cert)


def _exec_plugin(entry: _Entry, cluster: Mapping[str, Any]) -> ExecPlugin:
    command = entry.text("command")
    if command is None:
        raise entry.error("command", "missing")
    if os.sep in command or (os.altsep and os.altsep in command):
        command = os.path.normpath(os.path.join(entry.directory, os.path.expanduser(command)))
    api_version = entry.text("apiVersion")
    if api_version is None:
        raise entry.error("apiVersion", "missing")
    if api_version not in EXEC_API_VERSIONS:
        supported = ", ".join(EXEC_API_VERSIONS)
        raise entry.error("apiVersion", f"{_q(api_version)} is not supported (use one of: {supported})")
    env: list[tuple[str, str]] = []
    raw_env = entry.data.get("env") or []
    if not isinstance(raw_env, list):
        raise entry.error("env", "expected a list of {name, value}")
    for i, item in enumerate(raw_env):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise entry.error(f"env[{i}]", "expected a mapping with a string name")
        value = item.get("value")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise entry.error(f"env[{i}].value", f"expected a string, got {type(value).__name__}")
        env.append((item["name"], value))
    mode = entry.text("interactiveMode") or "IfAvailable"
    if mode not in ("Never", "IfAvailable", "Always"):
        raise entry.error("interactiveMode", f"{_q(mode)} is not one of Never, IfAvailable, Always")
    if mode == "Always":
        raise entry.error("interactiveMode", "Always needs an interactive terminal, which k8spb never provides")
    return ExecPlugin(
        command=command,
        args=tuple(entry.texts("args")),
        env=tuple(env),
        api_version=api_version,
        install_hint=entry.text("installHint"),
        provide_cluster_info=entry.flag("provideClusterInfo"),
        cluster=cluster,
        interactive_mode=mode,
    )


def _impersonation(user: _Entry) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    as_user = user.text("as")
    if as_user is not None:
        headers.append(("Impersonate-User", as_user))
    as_uid = user.text("as-uid")
    if as_uid is not None:
        headers.append(("Impersonate-Uid", as_uid))
    headers.extend(("Impersonate-Group", group) for group in user.texts("as-groups"))
    extra = user.data.get("as-user-extra")
    if extra is not None:
        if not isinstance(extra, dict):
            raise user.error("as-user-extra", "expected a mapping of string to list of strings")
        for key, values in extra.items():
            if not (isinstance(key, str) and isinstance(values, list) and all(isinstance(v, str) for v in values)):
                raise user.error("as-user-extra", "expected a mapping of string to list of strings")
            header = "Impersonate-Extra-" + quote(key, safe=_HEADER_KEY_SAFE)
            headers.extend((header, v) for v in values)
    if headers and as_user is None:
        raise user.error(None, "as-uid, as-groups and as-user-extra need as (the user to impersonate)")
    return tuple(headers)


# -- URLs and proxies ------------------------------------------------------------------------------------


def _normalize_server(server: str, where: str) -> str:
    value = server.strip()
    if "://" not in value:
        value = "https://" + value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(f"{where}: {_q(redact_url(server))} is not a valid URL ({exc})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{where}: {_q(redact_url(server))} is not an http(s) URL with a host")
    return value.rstrip("/")


def redact_url(url: str) -> str:
    """``url`` with its user info (``user:password@``, which may be a token) replaced by ``<redacted>``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    netloc, slash, path = rest.partition("/")
    _, at, host = netloc.rpartition("@")
    if not at:
        return url
    return f"{scheme}{sep}<redacted>@{host}{slash}{path}"


def _getenv(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _proxy_from_env(server: str) -> str | None:
    """The proxy for ``server`` from HTTPS_PROXY/HTTP_PROXY and NO_PROXY, as Go's net/http reads them."""
    parts = urlsplit(server)
    host = (parts.hostname or "").lower().rstrip(".")
    port = str(parts.port or (443 if parts.scheme == "https" else 80))
    host_ip = _ip(host)
    if host == "localhost" or (host_ip is not None and host_ip.is_loopback):
        return None  # never proxied, as in Go
    names = ("HTTPS_PROXY", "https_proxy") if parts.scheme == "https" else ("HTTP_PROXY", "http_proxy")
    proxy = _getenv(*names)
    if not proxy:
        return None
    no_proxy = _getenv("NO_PROXY", "no_proxy")
    if no_proxy and _bypass_proxy(host, port, no_proxy):
        return None
    return proxy if "://" in proxy else "http://" + proxy


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _bypass_proxy(host: str, port: str, no_proxy: str) -> bool:
    """Whether NO_PROXY (hosts, domains, IPs, CIDRs or ``*``, each with an optional port) covers host."""
    host_ip = _ip(host)
    for raw in no_proxy.split(","):
        phrase = raw.strip().lower()
        if not phrase:
            continue
        if phrase == "*":
            return True
        if "/" in phrase:
            try:
                network = ipaddress.ip_network(phrase, strict=False)
            except ValueError:
                continue
            if host_ip is not None and host_ip in network:
                return True
            continue
        want_port = ""
        if phrase.startswith("["):
            end = phrase.find("]")
            if end < 0:
                continue
            rest = phrase[end + 1 :]
            phrase, want_port = phrase[1:end], rest[1:] if rest.startswith(":") else ""
        elif phrase.count(":") == 1:
            phrase, want_port = phrase.split(":")
        if want_port and want_port != port:
            continue
        phrase_ip = _ip(phrase)
        if phrase_ip is not None:
            if host_ip == phrase_ip:
                return True
            continue
        phrase = phrase.rstrip(".")
        if phrase.startswith("*."):
            phrase = phrase[1:]
        if phrase.startswith("."):
            if host.endswith(phrase):
                return True
        elif host == phrase or host.endswith("." + phrase):
            return True
    return False
