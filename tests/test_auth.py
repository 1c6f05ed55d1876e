"""Authentication providers: static tokens, token files, basic auth and exec credential plugins."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from k8spb._auth import (
    Auth,
    BasicAuth,
    ClientCert,
    ExecAuth,
    ExecPlugin,
    TokenAuth,
    TokenFileAuth,
    _redact,
)
from k8spb._errors import ConfigError
from tests._config_support.plugins import V1, V1BETA1, last_run, runs, write_plugin

TOKEN = "tok-3f9a2c71e5b84d06a1c2e3f4a5b6c7d8"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def _later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def _exec(tmp_path: Path, body: str, *, api_version: str = V1, **plugin_options: Any) -> tuple[ExecAuth, Path]:
    script = write_plugin(tmp_path, body, api_version=api_version)
    plugin = ExecPlugin(command=sys.executable, args=(str(script),), api_version=api_version, **plugin_options)
    return ExecAuth(plugin, source="kubeconfig: users[0].user.exec"), tmp_path


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG, logger="k8spb"):
        yield caplog


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


# -- static kinds ------------------------------------------------------------------------------------------


def test_anonymous_auth_sends_nothing() -> None:
    auth = Auth()
    assert auth.headers() == {}
    assert auth.client_cert() is None
    assert asyncio.run(auth.aheaders()) == {}
    auth.invalidate()
    assert repr(auth) == "Auth()"


def test_token_auth_header_and_repr() -> None:
    auth = TokenAuth(TOKEN)
    assert auth.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert asyncio.run(auth.aheaders()) == {"Authorization": f"Bearer {TOKEN}"}
    assert TOKEN not in repr(auth)
    assert TOKEN not in str(auth)
    assert "<redacted>" in repr(auth)


def test_token_with_line_break_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        TokenAuth("abc\nInjected: header")
    assert "Injected" not in str(info.value)


def test_basic_auth_header_and_repr() -> None:
    auth = BasicAuth("bob", "s3cr3t-pa55word")
    expected = "Basic " + base64.b64encode(b"bob:s3cr3t-pa55word").decode()
    assert auth.headers() == {"Authorization": expected}
    assert "s3cr3t-pa55word" not in repr(auth)
    assert expected.split()[1] not in repr(auth)
    assert "bob" in repr(auth)


def test_client_cert_repr_hides_the_key() -> None:
    cert = ClientCert(b"-----BEGIN CERTIFICATE-----\nAAAA\n", b"-----BEGIN PRIVATE KEY-----\nSECRETKEY\n")
    assert "SECRETKEY" not in repr(cert)
    auth = TokenAuth(TOKEN, client_cert=cert)
    assert auth.client_cert() is cert
    assert "SECRETKEY" not in repr(auth)
    assert asyncio.run(auth.aclient_cert()) is cert


# -- token files --------------------------------------------------------------------------------------------


def test_token_file_rereads_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first-token\n")
    auth = TokenFileAuth(path)
    assert auth.headers() == {"Authorization": "Bearer first-token"}
    # The kubelet swaps in a new file: a new inode and mtime.
    new = tmp_path / "token.new"
    new.write_text("second-token")
    os.replace(new, path)
    assert auth.headers() == {"Authorization": "Bearer second-token"}
    assert asyncio.run(auth.aheaders()) == {"Authorization": "Bearer second-token"}


def test_token_file_rereads_after_max_age_even_if_unchanged_stat(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("aaaa")
    auth = TokenFileAuth(path, max_age=60)
    st = os.stat(path)
    path.write_text("bbbb")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and same mtime: looks unchanged
    assert auth.headers() == {"Authorization": "Bearer aaaa"}
    auth._read_at -= 61  # a minute later
    assert auth.headers() == {"Authorization": "Bearer bbbb"}


def test_token_file_invalidate_forces_a_reread(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("aaaa")
    auth = TokenFileAuth(path)
    st = os.stat(path)
    path.write_text("cccc")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    auth.invalidate({"Authorization": "Bearer aaaa"})
    assert auth.headers() == {"Authorization": "Bearer cccc"}


def test_token_file_keeps_the_last_token_when_the_file_vanishes(
    tmp_path: Path, caplog_all: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    auth = TokenFileAuth(path)
    path.unlink()
    assert auth.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert "not found" in _logged(caplog_all)
    assert TOKEN not in _logged(caplog_all)


def test_token_file_failure_is_retried_on_change_not_per_request(
    tmp_path: Path, caplog_all: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "token"
    path.write_text("aaaa")
    auth = TokenFileAuth(path)
    path.write_text("")  # a broken rotation
    for _ in range(5):
        assert auth.headers() == {"Authorization": "Bearer aaaa"}
    assert len(caplog_all.records) == 1
    assert "is empty" in caplog_all.records[0].getMessage()
    path.write_text("bbbbbb")
    assert auth.headers() == {"Authorization": "Bearer bbbbbb"}


def test_token_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"token file .*/missing not found"):
        TokenFileAuth(tmp_path / "missing", source="cfg: users[0].user.tokenFile")
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(ConfigError, match=r"^cfg: token file .*/empty is empty$"):
        TokenFileAuth(tmp_path / "empty", source="cfg")


# -- exec plugins ---------------------------------------------------------------------------------------------


def test_exec_v1_token_is_cached_until_it_expires(tmp_path: Path) -> None:
    auth, d = _exec(tmp_path, f"emit({{'token': 'tok-' + str(RUN), 'expirationTimestamp': {_later(3600)!r}}})")
    assert runs(d) == 0  # lazy
    assert auth.headers() == {"Authorization": "Bearer tok-1"}
    assert auth.headers() == {"Authorization": "Bearer tok-1"}
    assert auth.client_cert() is None
    assert runs(d) == 1


def test_exec_without_expiry_is_cached_forever_and_expired_is_refetched(tmp_path: Path) -> None:
    auth, d = _exec(tmp_path, "emit({'token': 'tok-' + str(RUN)})")
    auth.headers()
    auth.headers()
    assert runs(d) == 1

    expired, d2 = _exec(tmp_path / "b", f"emit({{'token': 't' + str(RUN), 'expirationTimestamp': {_later(-5)!r}}})")
    assert expired.headers() == {"Authorization": "Bearer t1"}
    assert expired.headers() == {"Authorization": "Bearer t2"}
    assert runs(d2) == 2


def test_exec_refreshes_shortly_before_expiry(tmp_path: Path) -> None:
    auth, _ = _exec(tmp_path, f"emit({{'token': 't' + str(RUN), 'expirationTimestamp': {_later(5)!r}}})")
    assert auth.headers() == {"Authorization": "Bearer t1"}
    assert auth.headers() == {"Authorization": "Bearer t1"}  # still within half its lifetime
    cred = auth._cred
    assert cred is not None and cred.expires_at is not None
    assert cred.expires_at - 5 < cred.refresh_at < cred.expires_at


def test_exec_invalidate_after_401_refetches_once(tmp_path: Path) -> None:
    auth, d = _exec(tmp_path, "emit({'token': 'tok-' + str(RUN)})")
    used = auth.headers()
    auth.invalidate(used)
    fresh = auth.headers()
    assert fresh == {"Authorization": "Bearer tok-2"}
    # A second request that failed with the old token must not trigger another run.
    auth.invalidate({"authorization": used["Authorization"]})
    assert auth.headers() == fresh
    assert runs(d) == 2
    auth.invalidate()  # no headers: always drops
    assert auth.headers() == {"Authorization": "Bearer tok-3"}


def test_exec_v1beta1_and_exec_info(tmp_path: Path) -> None:
    cluster = {"server": "https://k.example:6443", "certificate-authority-data": "Q0E=", "config": {"a": 1}}
    auth, d = _exec(
        tmp_path,
        "emit({'token': 'abc'})",
        api_version=V1BETA1,
        env=(("PLUGIN_MODE", "test"),),
        provide_cluster_info=True,
        cluster=cluster,
    )
    assert auth.headers() == {"Authorization": "Bearer abc"}
    run = last_run(d)
    assert run["env"]["PLUGIN_MODE"] == "test"
    assert run["env"]["PATH"] == os.environ["PATH"]  # the parent environment is inherited
    info = json.loads(run["env"]["KUBERNETES_EXEC_INFO"])
    assert info == {
        "apiVersion": V1BETA1,
        "kind": "ExecCredential",
        "spec": {"interactive": False, "cluster": cluster},
    }


def test_exec_info_has_no_cluster_unless_asked(tmp_path: Path) -> None:
    auth, d = _exec(tmp_path, "emit({'token': 'abc'})", cluster={"server": "https://x"})
    auth.headers()
    info = json.loads(last_run(d)["env"]["KUBERNETES_EXEC_INFO"])
    assert info == {"apiVersion": V1, "kind": "ExecCredential", "spec": {"interactive": False}}


def test_exec_plugin_args_are_passed(tmp_path: Path) -> None:
    script = write_plugin(tmp_path, "emit({'token': sys.argv[1] + '-' + sys.argv[2]})")
    plugin = ExecPlugin(command=sys.executable, args=(str(script), "eks", "--region=x"))
    assert ExecAuth(plugin).headers() == {"Authorization": "Bearer eks---region=x"}
    assert last_run(tmp_path)["argv"] == ["eks", "--region=x"]
    assert "--region" not in repr(plugin)


def test_exec_plugin_stdin_is_not_inherited(tmp_path: Path) -> None:
    auth, _ = _exec(tmp_path, "data = sys.stdin.read()\nemit({'token': 'len' + str(len(data))})")
    assert auth.headers() == {"Authorization": "Bearer len0"}


def test_exec_client_certificate(tmp_path: Path) -> None:
    body = """
    emit({'clientCertificateData': '-----BEGIN CERTIFICATE-----\\nC\\n-----END CERTIFICATE-----\\n',
          'clientKeyData': '-----BEGIN PRIVATE KEY-----\\nK\\n-----END PRIVATE KEY-----\\n'})
    """
    auth, _ = _exec(tmp_path, body)
    assert auth.headers() == {}
    cert = auth.client_cert()
    assert cert is not None
    assert cert.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert cert.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert asyncio.run(auth.aclient_cert()) == cert


def test_exec_missing_binary_shows_the_install_hint(tmp_path: Path) -> None:
    plugin = ExecPlugin(
        command="k8spb-test-no-such-plugin", install_hint="Install it with: brew install no-such-plugin\n"
    )
    auth = ExecAuth(plugin, source="~/.kube/config: users[2].user.exec")
    with pytest.raises(ConfigError) as info:
        auth.headers()
    message = str(info.value)
    assert message.startswith('~/.kube/config: users[2].user.exec: command "k8spb-test-no-such-plugin" not found')
    assert message.endswith("Install it with: brew install no-such-plugin")
    assert info.value.__context__ is None


def test_exec_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "plugin"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o644)
    with pytest.raises(ConfigError, match="is not executable"):
        ExecAuth(ExecPlugin(command=str(script))).headers()


def test_exec_failure_quotes_redacted_stderr(tmp_path: Path, caplog_all: pytest.LogCaptureFixture) -> None:
    body = f"""
    if RUN == 1:
        emit({{'token': {TOKEN!r}}})
        sys.exit(0)
    print('debug: cached credential ' + {TOKEN!r} + ' rejected', file=sys.stderr)
    print('debug: id token {JWT}', file=sys.stderr)
    print('debug: password=hunter2hunter2 Authorization: Bearer abc.def.ghi', file=sys.stderr)
    print('error: refresh failed: invalid_grant', file=sys.stderr)
    sys.exit(3)
    """
    auth, _ = _exec(tmp_path, body)
    used = auth.headers()
    assert used == {"Authorization": f"Bearer {TOKEN}"}
    auth.invalidate(used)
    with pytest.raises(ConfigError) as info:
        auth.headers()
    message = str(info.value)
    assert "exited with status 3" in message
    assert "error: refresh failed: invalid_grant" in message  # the useful part survives
    for secret in (TOKEN, JWT, "hunter2hunter2", "abc.def.ghi"):
        assert secret not in message
        assert secret not in _logged(caplog_all)
    assert "<redacted>" in message


def test_exec_stderr_tail_is_bounded(tmp_path: Path) -> None:
    body = """
    for i in range(200):
        print(f'line {i}', file=sys.stderr)
    sys.exit(1)
    """
    auth, _ = _exec(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        auth.headers()
    message = str(info.value)
    assert "line 199" in message
    assert "line 150" not in message


def test_exec_bad_output_does_not_echo_stdout(tmp_path: Path) -> None:
    auth, _ = _exec(tmp_path, f"print('not json {TOKEN}')")
    with pytest.raises(ConfigError, match="did not print an ExecCredential JSON object") as info:
        auth.headers()
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("emit({'token': 'x'}, kind='Other')", "kind is not ExecCredential"),
        (f"emit({{'token': 'x'}}, api_version={V1BETA1!r})", "printed apiVersion"),
        (f"print(json.dumps({{'apiVersion': {V1!r}, 'kind': 'ExecCredential'}}))", "without status"),
        ("emit({})", "neither status.token nor status.clientCertificateData"),
        ("emit({'clientCertificateData': 'x'})", "only one of"),
        ("emit({'token': 5})", "status.token that is not a string"),
        ("emit({'token': 'x', 'expirationTimestamp': 'soon'})", "not an RFC 3339 time"),
        ("emit({'token': 'a\\nb'})", "not a valid bearer token"),
    ],
)
def test_exec_invalid_credentials(tmp_path: Path, body: str, expected: str) -> None:
    auth, _ = _exec(tmp_path, body)
    with pytest.raises(ConfigError, match=expected):
        auth.headers()


def test_exec_timeout(tmp_path: Path) -> None:
    auth, _ = _exec(tmp_path, "time.sleep(10)", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"did not finish within 0.5 s"):
        auth.headers()
    assert time.monotonic() - started < 5


def test_exec_unsupported_api_version() -> None:
    with pytest.raises(ConfigError, match=r"client\.authentication\.k8s\.io/v1alpha1.* is not supported"):
        ExecAuth(ExecPlugin(command="x", api_version="client.authentication.k8s.io/v1alpha1"))


def test_exec_runs_once_for_concurrent_callers(tmp_path: Path) -> None:
    auth, d = _exec(tmp_path, "time.sleep(0.2)\nemit({'token': 'tok-' + str(RUN)})")
    results: list[dict[str, str]] = []
    threads = [threading.Thread(target=lambda: results.append(auth.headers())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"Authorization": "Bearer tok-1"}] * 8
    assert runs(d) == 1


def test_exec_aheaders_does_not_block_the_event_loop(tmp_path: Path) -> None:
    auth, d = _exec(tmp_path, "time.sleep(0.3)\nemit({'token': 'tok-' + str(RUN)})")

    async def main() -> tuple[list[dict[str, str]], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        headers = await asyncio.gather(auth.aheaders(), auth.aheaders(), auth.aheaders())
        task.cancel()
        return list(headers), ticks

    headers, ticks = asyncio.run(main())
    assert headers == [{"Authorization": "Bearer tok-1"}] * 3
    assert ticks >= 10  # the loop kept running while the plugin did
    assert runs(d) == 1


def test_exec_logs_and_repr_hold_no_token(tmp_path: Path, caplog_all: pytest.LogCaptureFixture) -> None:
    auth, _ = _exec(tmp_path, f"emit({{'token': {TOKEN!r}}})")
    auth.headers()
    assert caplog_all.records  # it does log the run
    assert TOKEN not in _logged(caplog_all)
    assert TOKEN not in repr(auth)
    assert TOKEN not in repr(auth._cred)


# -- redaction ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"token: {TOKEN}",
        f'{{"token": "{TOKEN}"}}',
        f"Authorization: Bearer {TOKEN}",
        f"got {JWT} from issuer",
        "key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBq\n-----END EC PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nMHcCAQEEIBq (truncated",
        "access token ya29.a0AfB_byC9x8QwErTyUiOpAsDfGhJkLzXcVbNm1234 expired",
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "client_secret=abc123",
    ],
)
def test_redact_hides_credentials(text: str) -> None:
    redacted = _redact(text)
    assert "<redacted>" in redacted
    for secret in (TOKEN, JWT, "MHcCAQEEIBq", "AfB_byC9x8QwErTyUiOpAsDfGhJkLzXcVbNm1234", "wJalrXUtnFEMI", "abc123"):
        assert secret not in redacted


def test_redact_keeps_ordinary_text_and_known_secrets_go() -> None:
    for text in (
        "error: cluster arn:aws:eks:us-east-1:123456789012:cluster/prod not found (exit 1) in /usr/lib/x.py",
        "error: cannot refresh token: invalid_grant",
        "Traceback: File /usr/lib/python3.11/site-packages/google/auth/transport/requests.py, line 12",
    ):
        assert _redact(text) == text
    assert _redact("token: s3cr3t") == "token: <redacted>"
    assert _redact("the value is abc", ["abc"]) == "the value is <redacted>"
