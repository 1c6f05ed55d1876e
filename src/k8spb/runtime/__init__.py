"""k8spb.runtime: the machinery of controllers, on top of Api / AsyncApi.

In the manner of kube-rs's kube-runtime: a watcher (list, then watch, recovering from every
failure), a reflector feeding a read-only Store, a Controller that reconciles keys from a deduplicating
work queue, finalizer and condition helpers, an Event recorder and leader election. Everything works
with an AsyncApi (asyncio, first-class) and with an Api (threads).
"""

from __future__ import annotations

from k8spb.runtime._conditions import (
    all_of,
    any_of,
    condition_is_true,
    find_condition,
    is_crd_established,
    is_deleted,
    is_job_completed,
    is_pod_running,
    negate,
    remove_condition,
    selector_to_string,
    set_condition,
)
from k8spb.runtime._controller import Action, Controller, SyncController
from k8spb.runtime._events import AsyncRecorder, EventData, EventType, Recorder, Reporter, object_reference
from k8spb.runtime._finalizer import afinalizer, finalizer
from k8spb.runtime._leader import AsyncLeaderElector, LeaderElector, LeaderRecord, LeadershipLost
from k8spb.runtime._reflector import reflector
from k8spb.runtime._store import IndexFunc, ObjectRef, Store, Writer, label_index, strip_managed_fields
from k8spb.runtime._wait import await_condition
from k8spb.runtime._watcher import (
    Apply,
    Backoff,
    Delete,
    Event,
    Init,
    InitApply,
    InitDone,
    WatcherConfig,
    metadata_watcher,
    watcher,
)

__all__ = [
    "Action",
    "Apply",
    "AsyncLeaderElector",
    "AsyncRecorder",
    "Backoff",
    "Controller",
    "Delete",
    "Event",
    "EventData",
    "EventType",
    "IndexFunc",
    "Init",
    "InitApply",
    "InitDone",
    "LeaderElector",
    "LeaderRecord",
    "LeadershipLost",
    "ObjectRef",
    "Recorder",
    "Reporter",
    "Store",
    "SyncController",
    "WatcherConfig",
    "Writer",
    "afinalizer",
    "all_of",
    "any_of",
    "await_condition",
    "condition_is_true",
    "finalizer",
    "find_condition",
    "is_crd_established",
    "is_deleted",
    "is_job_completed",
    "is_pod_running",
    "label_index",
    "metadata_watcher",
    "negate",
    "object_reference",
    "reflector",
    "remove_condition",
    "selector_to_string",
    "set_condition",
    "strip_managed_fields",
    "watcher",
]
