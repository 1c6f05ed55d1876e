#!/usr/bin/env python3
"""Watch-stream decode benchmark: k8spb's WatchDecoder against the bare upb parse, in memory.

    python3 tools/bench_watch.py [--events 10000] [--pods 2000]

Builds a protobuf watch stream of MODIFIED events of realistic pods (those of ``tools/bench.py``,
each event with its own resourceVersion), framed as kube-apiserver frames them, and the same events
as JSON lines; then times, best of 5 with the GC enabled, feeding each stream to a decoder in 64 KiB
chunks (with and without reading ``metadata.resourceVersion`` off every object) against the floor:
upb parsing each pod's bytes alone. No network: ``tools/bench_e2e.py`` measures the whole path.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tools")]

import k8spb  # noqa: E402
from k8spb.api.core.v1 import Pod  # noqa: E402
from k8spb.apimachinery.pkg.apis.meta.v1 import WatchEvent  # noqa: E402
from k8spb.apimachinery.pkg.runtime import Unknown  # noqa: E402

CHUNK = 64 * 1024


def _frame(event_type: str, enveloped: bytes) -> bytes:
    """meta/v1 WatchEvent{type, object: RawExtension{raw}}, length-prefixed (written by upb)."""
    body = WatchEvent._pb_class()(type=event_type, object={"raw": enveloped}).SerializeToString(deterministic=True)
    return len(body).to_bytes(4, "big") + body


def build(events: int, pods: int) -> tuple[bytes, bytes, list[bytes]]:
    from bench import make_pod_list  # type: ignore[import-not-found]

    items = make_pod_list(pods)["items"]
    pb, js, bare = bytearray(), bytearray(), []
    for i in range(events):
        doc = {"apiVersion": "v1", "kind": "Pod", **items[i % pods]}
        doc["metadata"] = {**doc["metadata"], "resourceVersion": str(30_000_000 + i)}
        enveloped = k8spb.encode(Pod.from_dict(doc), k8spb.PROTOBUF)
        pb += _frame("MODIFIED", enveloped)
        js += json.dumps({"type": "MODIFIED", "object": doc}, separators=(",", ":")).encode() + b"\n"
        bare.append(Unknown.from_pb_bytes(enveloped[4:]).raw)  # the pod's own bytes
    return bytes(pb), bytes(js), bare


def best_of(fn: Callable[[], int], runs: int = 5) -> tuple[float, int]:
    times, check = [], 0
    for _ in range(runs):
        gc.collect()
        t = time.perf_counter()
        check = fn()
        times.append(time.perf_counter() - t)
    return min(times), check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--pods", type=int, default=2_000)
    args = parser.parse_args()
    t = time.perf_counter()
    pb, js, bare = build(args.events, args.pods)
    print(f"- {args.events} pod events ({args.pods} distinct pods): protobuf stream {len(pb) / 2**20:.1f} MiB, "
          f"JSON {len(js) / 2**20:.1f} MiB; built in {time.perf_counter() - t:.1f} s")
    pb_chunks = [pb[i : i + CHUNK] for i in range(0, len(pb), CHUNK)]
    js_chunks = [js[i : i + CHUNK] for i in range(0, len(js), CHUNK)]
    parse = Pod._pb_class().FromString

    def upb() -> int:
        return sum(1 for b in bare if parse(b) is not None)

    def upb_rv() -> int:
        return sum(len(parse(b).metadata.resourceVersion) for b in bare)

    def decoder(chunks: list[bytes], content_type: str, read: bool) -> Callable[[], int]:
        def run() -> int:
            dec, n = k8spb.WatchDecoder(content_type, Pod), 0
            for chunk in chunks:
                for ev in dec.feed(chunk):
                    n += len(ev.object.metadata.resource_version) if read else 1
            dec.close()
            return n
        return run

    def json_lines() -> int:
        return sum(len(json.loads(line)["object"]["metadata"]["resourceVersion"]) for line in js.splitlines())

    rows = [
        ("1. upb parse of each pod's bytes (floor)", upb),
        ("1b. the same + metadata.resourceVersion", upb_rv),
        ("2. k8spb WatchDecoder, protobuf", decoder(pb_chunks, k8spb.PROTOBUF, False)),
        ("2b. the same + metadata.resource_version", decoder(pb_chunks, k8spb.PROTOBUF, True)),
        ("3. k8spb WatchDecoder, JSON + metadata.resource_version", decoder(js_chunks, k8spb.JSON, True)),
        ("4. json.loads of each line + the resourceVersion (reference)", json_lines),
    ]
    print()
    print("| scenario | seconds (best of 5) | events/s | us/event | / floor | checksum |")
    print("|---|---:|---:|---:|---:|---:|")
    floor = None
    for label, fn in rows:
        secs, check = best_of(fn)
        floor = floor or secs
        print(f"| {label} | {secs:.3f} | {args.events / secs:,.0f} | {secs / args.events * 1e6:.1f} | "
              f"{secs / floor:.2f}x | {check} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
