"""``python -m k8spb.testing``: run an in-memory API server until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from k8spb.testing._server import ApiServer
from k8spb.testing._store import MAX_LOG_BYTES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k8spb.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=None, help="bearer token clients must send (default: random)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA (needs cryptography)")
    parser.add_argument("--client-ca", action="store_true",
                        help="also accept client certificates (a second kubeconfig context)")
    parser.add_argument("--event-log-mib", type=int, default=MAX_LOG_BYTES >> 20,
                        help="the event log's cap in MiB of logged objects' JSON (watches older than it get 410)")
    parser.add_argument("--api-versions", choices=("ga", "beta", "all"), default="ga",
                        help="serve GA versions only, as a default cluster does (default), or betas, or alphas too")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ApiServer(args.host, args.port, token=args.token, verbose=args.verbose, tls=args.tls,
                   client_ca=args.client_ca, event_log_bytes=args.event_log_mib << 20,
                   api_versions=args.api_versions) as srv:
        print(srv.kubeconfig_path, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
