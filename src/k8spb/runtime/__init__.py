"""k8spb.runtime: the machinery of controllers, on top of Api / AsyncApi.

In the manner of kube-rs's kube-runtime: a watcher (list, then watch, recovering from every
failure), a reflector feeding a read-only Store, a Controller that reconciles keys from a deduplicating
work queue, finalizer and condition helpers, an Event recorder and leader election.
"""

from __future__ import annotations

from k8spb.runtime._events import AsyncRecorder, EventData, EventType, Recorder, Reporter, object_reference
from k8spb.runtime._leader import AsyncLeaderElector, LeaderElector, LeaderRecord, LeadershipLost

__all__: list[str] = [
    "AsyncLeaderElector",
    "AsyncRecorder",
    "EventData",
    "EventType",
    "LeaderElector",
    "LeaderRecord",
    "LeadershipLost",
    "Recorder",
    "Reporter",
    "object_reference",
]
