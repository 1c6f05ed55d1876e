"""Secrets planted in every place a user can put one never reach repr, logs or exception text (issue 13)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import k8spb
from k8spb import Api, AsyncClient, Client, Config, ConfigError, ExecAuth, ExecPlugin, TokenAuth
from k8spb.api.core.v1 import ConfigMap
from tests._config_support.plugins import write_plugin

PASSWORD = "pw-Hunter2-Zq9x"
TOKEN = "tok-7f3b9c2a11e0"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):  # every logger: k8spb's, httpcore's
        yield caplog


def _assert_hidden(*texts: str) -> None:
    for text in texts:
        for secret in (PASSWORD, TOKEN, "Hunter2", "7f3b9c2a11e0"):
            assert secret not in text, text


def test_repr_of_config_and_clients(logs: pytest.LogCaptureFixture) -> None:
    config = Config(f"http://admin:{PASSWORD}@127.0.0.1:9", auth=TokenAuth(TOKEN),
                    proxy=f"http://proxyuser:{PASSWORD}@127.0.0.1:3128")
    with Client(config) as client:
        shown = [repr(config), str(config), repr(client)]
    aclient = AsyncClient(config)
    shown.append(repr(aclient))
    asyncio.run(aclient.aclose())
    _assert_hidden(*shown, logs.text)
    assert "<redacted>@127.0.0.1:9" in repr(config) and "proxy='http://<redacted>@127.0.0.1:3128'" in repr(config)


def test_transport_errors_and_logs_of_a_server_url_with_a_password(logs: pytest.LogCaptureFixture) -> None:
    config = Config(f"http://admin:{PASSWORD}@127.0.0.1:9", auth=TokenAuth(TOKEN))  # nothing listens there
    with Client(config, max_retries=0) as client, pytest.raises(k8spb.TransportError) as caught:
        Api(client, ConfigMap, namespace="default").get("x")
    _assert_hidden(str(caught.value), logs.text)
    with pytest.raises(ConfigError) as bad:
        Config(f"ftp://admin:{PASSWORD}@host")
    _assert_hidden(str(bad.value))


@pytest.mark.parametrize("text", [
    f"users:\n- name: u\n  user:\n    password: *{PASSWORD}\n",  # an unquoted alias: "found undefined alias"
    f"users:\n- name: u\n  user: {{token: '{TOKEN}', password: \"{PASSWORD}\n",  # unterminated
    f"users:\n- name: u\n  user:\n    token: {TOKEN}\n\tpassword: {PASSWORD}\n",  # a tab
])
def test_kubeconfig_yaml_errors_do_not_quote_the_file(text: str, logs: pytest.LogCaptureFixture,
                                                      tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid YAML at line") as caught:
        Config.from_kubeconfig_text(text)
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(ConfigError, match="invalid YAML at line") as from_file:
        Config.from_kubeconfig(path)
    _assert_hidden(str(caught.value), str(from_file.value), logs.text)


def test_exec_plugin_stderr_is_a_marked_scrubbed_excerpt(tmp_path: Path, logs: pytest.LogCaptureFixture) -> None:
    script = write_plugin(tmp_path, f"""
    print('using credential {TOKEN}', file=sys.stderr)
    print('login failed for admin/{PASSWORD}', file=sys.stderr)
    print('error: refresh failed: invalid_grant (exit 3)', file=sys.stderr)
    sys.exit(3)
    """)
    auth = ExecAuth(ExecPlugin(command=sys.executable, args=(str(script),)), source="kubeconfig: users[0].user.exec")
    with pytest.raises(ConfigError) as caught:
        auth.headers()
    message = str(caught.value)
    _assert_hidden(message, logs.text)
    assert "the end of its stderr, words that could be credentials <redacted>:" in message
    assert "  | using credential <redacted>" in message and "  | login failed for <redacted>" in message
    assert "  | error: refresh failed: invalid_grant (exit 3)" in message  # plain words stay readable
