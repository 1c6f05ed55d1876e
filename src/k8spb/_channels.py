"""Kubernetes' channel protocols over WebSocket, without IO: exec, attach and port-forward.

Every binary WebSocket message starts with one byte naming its channel; the rest is that channel's
data. ``pods/exec`` and ``pods/attach`` (subprotocols ``v5.channel.k8s.io`` and
``v4.channel.k8s.io``) use 0 stdin, 1 stdout, 2 stderr, 3 the exit Status (meta/v1 JSON), 4 terminal
resizes (``{"Width":..,"Height":..}``); v5 adds 255, whose message ``[255, n]`` closes channel ``n``
(stdin's end of file). ``pods/portforward`` (``v4.channel.k8s.io``) gives port number i of the
``ports`` query the channels 2i (data) and 2i+1 (error text); the server starts each of them with the
port as two little-endian bytes.

The client and ``k8spb.testing`` both build on this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CLOSE",
    "ERROR",
    "EXEC_PROTOCOLS",
    "PORTFORWARD_PROTOCOL",
    "RESIZE",
    "STDERR",
    "STDIN",
    "STDOUT",
    "V4",
    "V5",
    "ChannelError",
    "Demux",
    "close_signal",
    "exec_query",
    "exit_code",
    "message",
    "parse_resize",
    "port_prefix",
    "portforward_query",
    "resize_message",
    "status_exit",
    "status_failure",
    "status_success",
]

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
EXEC_PROTOCOLS = (V5, V4)
"""What a client offers for exec and attach, preferred first."""
PORTFORWARD_PROTOCOL = V4

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
MAX_STATUS = 1 << 20
"""The largest status (or port-forward error) message accepted: these are short JSON or text."""


class ChannelError(ValueError):
    """A message that breaks the channel protocol."""


def message(channel: int, data: bytes | bytearray | memoryview) -> bytes:
    """One channel message: the channel byte, then the data."""
    return bytes((channel,)) + data


def close_signal(channel: int) -> bytes:
    """v5: the message that closes ``channel`` (no more data will be written to it)."""
    return bytes((CLOSE, channel))


def resize_message(width: int, height: int) -> bytes:
    """The resize channel's message for a terminal of ``width`` columns and ``height`` rows."""
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
            raise ValueError(f"terminal {name} must be an integer from 0 to 65535, not {value!r}")
    return message(RESIZE, json.dumps({"Width": width, "Height": height}, separators=(",", ":")).encode())


def parse_resize(data: bytes) -> tuple[int, int]:
    """(width, height) from a resize message's data."""
    try:
        obj = json.loads(data)
        width, height = obj["Width"], obj["Height"]
    except (ValueError, TypeError, KeyError):
        raise ChannelError(f"resize message is not {{\"Width\":..,\"Height\":..}} JSON: {data[:100]!r}") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0xFFFF for v in (width, height)):
        raise ChannelError(f"resize message holds no terminal size: {data[:100]!r}")
    return width, height


def exec_query(command: Sequence[str], container: str | None, *, stdin: bool, stdout: bool, stderr: bool,
               tty: bool) -> list[tuple[str, str]]:
    """The query of ``pods/exec`` (with ``command``) or ``pods/attach`` (without): PodExecOptions."""
    if isinstance(command, str):
        raise TypeError("command must be a list of arguments (e.g. ['sh', '-c', 'ls']), not a string")
    if not (stdin or stdout or stderr):
        raise ValueError("at least one of stdin, stdout and stderr must be True")
    query = [("command", arg) for arg in command]
    if container:
        query.append(("container", container))
    query += [(name, "true") for name, on in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr and not tty),
                                               ("tty", tty)) if on]
    return query


def portforward_query(ports: Sequence[int]) -> list[tuple[str, str]]:
    """The query of ``pods/portforward`` for ``ports`` (each forwarded once, in this order)."""
    if not ports:
        raise ValueError("port-forward needs at least one port")
    for port in ports:
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError(f"port must be an integer from 1 to 65535, not {port!r}")
    if len(set(ports)) != len(ports):
        raise ValueError(f"each port can be forwarded once per connection: {list(ports)}")
    return [("ports", str(port)) for port in ports]


def port_prefix(port: int) -> bytes:
    """The two bytes that start each port-forward channel: the port, little endian."""
    return port.to_bytes(2, "little")


class Demux:
    """Splits the pieces of binary WebSocket messages into ``(channel, data)`` pieces.

    A message may arrive in several pieces; the first byte of its first piece names the channel of all
    of them. With ``ports`` (port-forward), the first two bytes each channel receives must be its port,
    little endian; they are checked and dropped.
    """

    __slots__ = ("_channel", "_ports", "_prefix")

    def __init__(self, ports: Sequence[int] = ()) -> None:
        self._channel: int | None = None
        self._ports = tuple(ports)
        self._prefix: dict[int, bytes] = {}  # port-forward channel -> the prefix bytes seen so far
        for i in range(len(self._ports)):
            self._prefix[2 * i] = self._prefix[2 * i + 1] = b""

    def feed(self, data: bytes | bytearray, end: bool) -> tuple[int, bytes] | None:
        """One piece of a message (``end``: the message's last piece); None when it carries no data yet."""
        channel = self._channel
        if channel is None:
            if not data:
                return None  # an empty message (or an empty first piece): nothing to route
            channel, data = data[0], data[1:]
        self._channel = None if end else channel
        if self._ports and channel in self._prefix:
            data = self._strip_port(channel, bytes(data))
        elif self._ports:
            raise ChannelError(f"message on channel {channel}, but only channels 0 to {2 * len(self._ports) - 1} "
                               f"exist for {len(self._ports)} port(s)")
        return channel, bytes(data)

    def _strip_port(self, channel: int, data: bytes) -> bytes:
        seen = self._prefix[channel]
        if len(seen) >= 2:
            return data
        need = 2 - len(seen)
        seen, data = seen + data[:need], data[need:]
        self._prefix[channel] = seen
        if len(seen) == 2:
            port = int.from_bytes(seen, "little")
            expected = self._ports[channel // 2]
            if port != expected:
                raise ChannelError(f"channel {channel} starts with port {port}, not {expected}")
        return data


# --------------------------------------------------------------------------------------------- status


def exit_code(data: bytes) -> tuple[int | None, dict[str, Any]]:
    """The exit code a status message reports, and the Status as a dict.

    ``Success`` is 0; ``Failure`` with reason ``NonZeroExitCode`` gives the code of its ``ExitCode``
    cause; any other Failure gives None (the command did not run, or its outcome is unknown: the
    Status says why).
    """
    try:
        status = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ChannelError(f"status message is not JSON: {data[:200]!r}") from None
    if not isinstance(status, dict) or status.get("status") not in ("Success", "Failure"):
        raise ChannelError(f"status message is not a meta/v1 Status: {data[:200]!r}")
    if status["status"] == "Success":
        return 0, status
    if status.get("reason") != "NonZeroExitCode":
        return None, status
    details = status.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    for cause in causes if isinstance(causes, list) else ():
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            text = cause.get("message")
            if isinstance(text, str) and text.isdigit():
                return int(text), status
            raise ChannelError(f"status message's ExitCode cause is not a number: {text!r}")
    raise ChannelError("status message says NonZeroExitCode but has no ExitCode cause")


def _status(status: dict[str, Any]) -> bytes:
    return message(ERROR, json.dumps({"metadata": {}, **status}, separators=(",", ":")).encode())


def status_success() -> bytes:
    """The status channel's message for a command that exited with 0."""
    return _status({"status": "Success"})


def status_exit(code: int, command: Sequence[str]) -> bytes:
    """The status channel's message for a command that exited with ``code`` (not 0)."""
    return _status({
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
                   f"[{' '.join(command)}], exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    })


def status_failure(code: int, reason: str, message_: str) -> bytes:
    """The status channel's message for a command that could not run."""
    return _status({"status": "Failure", "message": message_, "reason": reason, "code": code})
