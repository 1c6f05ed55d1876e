"""Credentials for requests to the API server.

Every kind of credential has the same small API, free of any HTTP library, so one implementation
serves both the sync and the async client:

- ``headers()`` returns the headers to add to the next request; it may block (reading a token file,
  running an exec plugin). ``await aheaders()`` is the same for an event loop: any blocking work runs
  in a worker thread.
- ``client_cert()`` / ``await aclient_cert()`` return the TLS client certificate to present, if any.
- ``invalidate(used_headers)`` is called after the server answered 401; the next call fetches fresh
  credentials unless another caller already did.

Secrets (tokens, passwords, private keys) never appear in ``repr()``, log records or error messages;
of a failing plugin's stderr only a bounded, marked excerpt is quoted, with known tokens, anything
credential-like and every word that is not plain text (digits, paths, symbols) redacted.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

from k8spb._errors import ConfigError

__all__ = [
    "Auth",
    "BasicAuth",
    "ClientCert",
    "ExecAuth",
    "ExecPlugin",
    "TokenAuth",
    "TokenFileAuth",
]

_log = logging.getLogger("k8spb.auth")
T = TypeVar("T")

EXEC_API_VERSIONS: Final = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")

# Fetch exec credentials this long before they expire (at most half their lifetime).
_EXPIRY_MARGIN: Final = 10.0
# How much of a failing plugin's stderr an error message quotes.
_STDERR_TAIL_LINES: Final = 10
_STDERR_TAIL_CHARS: Final = 1000


@dataclass(frozen=True, repr=False)
class ClientCert:
    """A PEM client certificate (chain) and its PEM private key, for TLS client authentication."""

    cert_pem: bytes
    key_pem: bytes

    def __repr__(self) -> str:
        return f"ClientCert(cert_pem=<{len(self.cert_pem)} bytes>, key_pem=<redacted>)"


class Auth:
    """Anonymous access, optionally with a TLS client certificate; the base of every credential kind."""

    def __init__(self, *, client_cert: ClientCert | None = None) -> None:
        self._client_cert = client_cert

    def headers(self) -> dict[str, str]:
        """Headers for the next request. May block (file read, exec plugin)."""
        return {}

    async def aheaders(self) -> dict[str, str]:
        """Like :meth:`headers`, running any blocking work in a worker thread."""
        if self._ready():
            return self.headers()
        return await _to_thread(self.headers)

    def client_cert(self) -> ClientCert | None:
        """The TLS client certificate to present, or None. May block (exec plugin)."""
        return self._client_cert

    async def aclient_cert(self) -> ClientCert | None:
        """Like :meth:`client_cert`, running any blocking work in a worker thread."""
        if self._ready():
            return self.client_cert()
        return await _to_thread(self.client_cert)

    def invalidate(self, used_headers: Mapping[str, str] | None = None) -> None:
        """Drop cached credentials after a 401 answer to a request sent with ``used_headers``.

        If the credentials were refreshed since those headers were made, nothing is dropped, so many
        requests failing at once cause a single refresh. Without ``used_headers`` the cache is dropped.
        """

    def _ready(self) -> bool:
        """True when headers() and client_cert() can answer without blocking I/O."""
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._repr_fields()})"

    def _repr_fields(self) -> str:
        return "client_cert=<redacted>" if self._client_cert is not None else ""


async def _to_thread(fn: Callable[[], T]) -> T:
    import asyncio  # only async clients need it: not imported with k8spb

    return await asyncio.to_thread(fn)


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


class TokenAuth(Auth):
    """A fixed bearer token."""

    def __init__(self, token: str, *, client_cert: ClientCert | None = None) -> None:
        super().__init__(client_cert=client_cert)
        _check_token(token, "token")
        self._token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _repr_fields(self) -> str:
        return _join("token=<redacted>", super()._repr_fields())


class BasicAuth(Auth):
    """HTTP basic authentication with a username and password."""

    def __init__(self, username: str, password: str, *, client_cert: ClientCert | None = None) -> None:
        super().__init__(client_cert=client_cert)
        self.username = username
        self._value = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")

    def headers(self) -> dict[str, str]:
        return {"Authorization": self._value}

    def _repr_fields(self) -> str:
        return _join(f"username={self.username!r}", "password=<redacted>", super()._repr_fields())


class TokenFileAuth(Auth):
    """A bearer token read from a file, re-read when the file changes and at least every ``max_age`` s.

    This follows token rotation by the kubelet (projected service account tokens). If a re-read fails
    the last good token is kept. ``source`` names the file's origin in error messages.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        client_cert: ClientCert | None = None,
        max_age: float = 60.0,
        source: str | None = None,
    ) -> None:
        super().__init__(client_cert=client_cert)
        self.path = os.fspath(path)
        self._max_age = max_age
        self._source = source
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._read_at = -math.inf
        self._token = self._read()

    def headers(self) -> dict[str, str]:
        if not self._ready():
            with self._lock:
                if not self._ready():
                    try:
                        self._token = self._read()
                    except ConfigError as exc:
                        # Keep serving the last good token (the kubelet may be mid-rotation); try again
                        # when the file changes or max_age has passed, not on every request.
                        self._stamp = self._file_stamp()
                        self._read_at = time.monotonic()
                        _log.warning("keeping the previous token: %s", exc)
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self, used_headers: Mapping[str, str] | None = None) -> None:
        self._read_at = -math.inf

    def _ready(self) -> bool:
        if time.monotonic() - self._read_at >= self._max_age:
            return False
        return self._file_stamp() == self._stamp

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def _read(self) -> str:
        where = f"{self._source}: " if self._source else ""
        stamp = self._file_stamp()
        try:
            with open(self.path, encoding="utf-8") as f:
                token = f.read().strip()
        except FileNotFoundError:
            raise ConfigError(f"{where}token file {self.path} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"{where}cannot read token file {self.path}: {reason}") from None
        if not token:
            raise ConfigError(f"{where}token file {self.path} is empty")
        _check_token(token, f"{where}token file {self.path}")
        self._stamp = stamp
        self._read_at = time.monotonic()
        return token

    def _repr_fields(self) -> str:
        return _join(f"path={self.path!r}", super()._repr_fields())


def _q(text: str) -> str:
    """``text`` in double quotes, as messages show names."""
    return json.dumps(text, ensure_ascii=False)


def _check_token(token: str, what: str) -> None:
    if not token or any(c in token for c in "\r\n\0"):
        raise ConfigError(f"{what}: not a valid bearer token (empty or contains line breaks)")


@dataclass(frozen=True, kw_only=True)
class ExecPlugin:
    """An exec credential plugin as configured in a kubeconfig ``user.exec`` entry.

    ``cluster`` is the ``spec.cluster`` object passed in ``KUBERNETES_EXEC_INFO`` when the plugin
    asks for cluster info (``provideClusterInfo``). Arguments and environment are left out of the
    repr as they may hold secrets.
    """

    command: str
    args: tuple[str, ...] = field(default=(), repr=False)
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    api_version: str = "client.authentication.k8s.io/v1"
    install_hint: str | None = field(default=None, repr=False)
    provide_cluster_info: bool = False
    cluster: Mapping[str, Any] | None = field(default=None, repr=False)
    interactive_mode: str = "IfAvailable"
    timeout: float = 300.0


@dataclass(frozen=True)
class _ExecCredential:
    token: str | None = field(repr=False)
    cert: ClientCert | None
    expires_at: float | None  # POSIX time
    refresh_at: float  # POSIX time


def _bearer(cred: _ExecCredential) -> dict[str, str]:
    return {"Authorization": f"Bearer {cred.token}"} if cred.token else {}


class ExecAuth(Auth):
    """Credentials from an exec plugin (``client.authentication.k8s.io`` v1 or v1beta1).

    The plugin runs on first use, without stdin (never interactive); its ExecCredential is cached
    until shortly before ``expirationTimestamp`` or until :meth:`invalidate`. A token goes into an
    ``Authorization`` header; a certificate returned by the plugin replaces ``client_cert``.
    ``source`` names the plugin's kubeconfig entry in error messages.
    """

    def __init__(self, plugin: ExecPlugin, *, client_cert: ClientCert | None = None, source: str | None = None) -> None:
        super().__init__(client_cert=client_cert)
        if plugin.api_version not in EXEC_API_VERSIONS:
            raise ConfigError(
                f"{source or 'exec'}: apiVersion {_q(plugin.api_version)} is not supported"
                f" (use one of: {', '.join(EXEC_API_VERSIONS)})"
            )
        self.plugin = plugin
        self._source = source or f"exec plugin {_q(plugin.command)}"
        self._cred: _ExecCredential | None = None
        self._state_lock = threading.Lock()  # held only to swap _cred
        self._run_lock = threading.Lock()  # held while the plugin runs
        self._secrets: list[str] = []  # tokens seen, redacted from plugin stderr

    def headers(self) -> dict[str, str]:
        return _bearer(self._credential())

    def client_cert(self) -> ClientCert | None:
        return self._credential().cert or self._client_cert

    def invalidate(self, used_headers: Mapping[str, str] | None = None) -> None:
        with self._state_lock:
            cred = self._cred
            if cred is None:
                return
            if used_headers is not None and cred.token is not None:
                used = next((v for k, v in used_headers.items() if k.lower() == "authorization"), None)
                if used != f"Bearer {cred.token}":
                    return  # already refreshed since that request
            self._cred = None

    async def aheaders(self) -> dict[str, str]:
        cred = self._cred
        if cred is None or time.time() >= cred.refresh_at:
            cred = await _to_thread(self._credential)
        return _bearer(cred)

    async def aclient_cert(self) -> ClientCert | None:
        cred = self._cred
        if cred is None or time.time() >= cred.refresh_at:
            cred = await _to_thread(self._credential)
        return cred.cert or self._client_cert

    def _credential(self) -> _ExecCredential:
        cred = self._cred
        if cred is not None and time.time() < cred.refresh_at:
            return cred
        with self._run_lock:
            cred = self._cred
            if cred is not None and time.time() < cred.refresh_at:
                return cred
            cred = self._run()
            with self._state_lock:
                self._cred = cred
            return cred

    def _exec_info(self) -> str:
        spec: dict[str, Any] = {"interactive": False}
        if self.plugin.provide_cluster_info and self.plugin.cluster is not None:
            spec["cluster"] = dict(self.plugin.cluster)
        return json.dumps({"apiVersion": self.plugin.api_version, "kind": "ExecCredential", "spec": spec})

    def _run(self) -> _ExecCredential:
        plugin = self.plugin
        if plugin.interactive_mode == "Always":
            raise ConfigError(
                f"{self._source}: the plugin requires interactive mode (interactiveMode: Always),"
                " which k8spb does not provide"
            )
        env = dict(os.environ)
        env.update(plugin.env)
        env["KUBERNETES_EXEC_INFO"] = self._exec_info()
        import subprocess  # only exec plugins need it

        _log.debug("running exec credential plugin %r", plugin.command)
        failure: str | None = None
        try:
            proc = subprocess.run(
                [plugin.command, *plugin.args],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=plugin.timeout,
                check=False,
            )
        except FileNotFoundError:
            failure = f"command {_q(plugin.command)} not found"
            if plugin.install_hint:
                failure += "\n" + plugin.install_hint.strip()
        except PermissionError:
            failure = f"command {_q(plugin.command)} is not executable"
        except subprocess.TimeoutExpired:
            failure = f"command {_q(plugin.command)} did not finish within {plugin.timeout:g} s"
        except OSError as exc:
            failure = f"command {_q(plugin.command)} could not be started: {exc.strerror}"
        if failure is not None:  # raised here, outside the except blocks, so no output is chained
            raise ConfigError(f"{self._source}: {failure}")
        if proc.returncode != 0:
            how = (
                f"was killed by signal {-proc.returncode}"
                if proc.returncode < 0
                else f"exited with status {proc.returncode}"
            )
            tail = _stderr_tail(proc.stderr, self._secrets)
            raise ConfigError(
                f"{self._source}: command {_q(plugin.command)} {how}"
                + (f"; the end of its stderr, words that could be credentials {_REDACTED}:\n{tail}" if tail else "")
            )
        cred = self._parse(proc.stdout)
        if cred.token:
            self._secrets.append(cred.token)
            del self._secrets[:-4]
        return cred

    def _parse(self, stdout: bytes) -> _ExecCredential:
        def bad(why: str) -> ConfigError:
            return ConfigError(f"{self._source}: command {_q(self.plugin.command)} {why}")

        try:
            obj = json.loads(stdout)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise bad(f"did not print an ExecCredential JSON object ({len(stdout)} bytes on stdout)")
        if obj.get("kind") != "ExecCredential":
            raise bad("printed an object whose kind is not ExecCredential")
        if obj.get("apiVersion") != self.plugin.api_version:
            got = str(obj.get("apiVersion"))[:80]
            raise bad(f"printed apiVersion {_q(got)}, but the kubeconfig asks for {_q(self.plugin.api_version)}")
        status = obj.get("status")
        if not isinstance(status, dict):
            raise bad("printed an ExecCredential without status")
        token = status.get("token") or None
        cert = status.get("clientCertificateData") or None
        key = status.get("clientKeyData") or None
        for name, value in (("token", token), ("clientCertificateData", cert), ("clientKeyData", key)):
            if value is not None and not isinstance(value, str):
                raise bad(f"printed a status.{name} that is not a string")
        if (cert is None) != (key is None):
            raise bad("printed only one of status.clientCertificateData and status.clientKeyData")
        if token is None and cert is None:
            raise bad("printed neither status.token nor status.clientCertificateData")
        if token is not None:
            _check_token(token, f"{self._source}: status.token")
        expires_at: float | None = None
        refresh_at = math.inf
        stamp = status.get("expirationTimestamp")
        if stamp is not None:
            try:
                expires_at = datetime.fromisoformat(str(stamp)).timestamp()
            except ValueError:
                raise bad("printed a status.expirationTimestamp that is not an RFC 3339 time") from None
            now = time.time()
            refresh_at = expires_at - min(_EXPIRY_MARGIN, max(0.0, (expires_at - now) / 2))
        client_cert = ClientCert(cert.encode(), key.encode()) if cert is not None and key is not None else None
        return _ExecCredential(token, client_cert, expires_at, refresh_at)

    def _repr_fields(self) -> str:
        return _join(f"command={self.plugin.command!r}", super()._repr_fields())


_REDACTED: Final = "<redacted>"
_SECRET_PATTERNS: Final = (
    # PEM private keys, also when cut off
    re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
    # JSON Web Tokens (service account and OIDC tokens)
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    # long opaque words with letters and digits (cloud access tokens, keys); not paths
    re.compile(r"(?<![\w+=~-])(?=[\w+=~-]*\d)(?=[\w+=~-]*[A-Za-z])[\w+=~-]{32,}", re.A),
)
# "Bearer x", "token: x", "password=x", '"clientKeyData": "x"' keep their key and lose their value.
_SECRET_VALUES: Final = re.compile(
    r"(?i)(?P<key>\b(?:bearer|basic)\s+|\b[\w-]*(?:token|password|passwd|secret|key(?:data)?)\b(?P<sep>\"?\s*[:=]\s*\"?))"
    r"(?P<value>[^\s\",;}]+)"
)
_CREDENTIAL_LIKE: Final = re.compile(r"(?=.*\d)(?=.*[A-Za-z])|.{20,}", re.S)


def _redact_value(match: re.Match[str]) -> str:
    # After a plain "token: " only credential-like values go, so "token: expired" stays readable.
    sep = match.group("sep")
    if sep is not None and "=" not in sep and '"' not in sep and not _CREDENTIAL_LIKE.match(match.group("value")):
        return match.group(0)
    return match.group("key") + _REDACTED


def _redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets and anything that looks like a credential replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_REDACTED, text)
    return _SECRET_VALUES.sub(_redact_value, text)


_WORD: Final = re.compile(r"\S+")
_PLAIN_WORD: Final = re.compile(r"[A-Za-z][A-Za-z'_-]{0,23}|\d{1,4}")  # a word, an error code, a small number
_WORD_EDGES: Final = "\"'()[]{}<>,.;:!?*`"


def _scrub_word(match: re.Match[str]) -> str:
    word = match.group(0)
    core = word.strip(_WORD_EDGES)
    if not core or _PLAIN_WORD.fullmatch(core):
        return word
    start = word.index(core)
    return word[:start] + _REDACTED + word[start + len(core) :]


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with secrets redacted and every word that is not plain text (a token, a password with a
    digit or a symbol, a path) replaced: for text a credential tool or parser wrote, quoted in errors."""
    return _WORD.sub(_scrub_word, _redact(text, secrets))


def _stderr_tail(stderr: bytes, secrets: Iterable[str]) -> str:
    text = scrub(stderr.decode("utf-8", "replace"), secrets).strip()
    tail = "\n".join(text.splitlines()[-_STDERR_TAIL_LINES:])
    if len(tail) > _STDERR_TAIL_CHARS:
        tail = "..." + tail[-_STDERR_TAIL_CHARS:]
    return "\n".join(f"  | {line}" for line in tail.splitlines())
