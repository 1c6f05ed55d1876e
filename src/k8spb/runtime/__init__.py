"""k8spb.runtime: the machinery of controllers, on top of Api / AsyncApi.

In the manner of kube-rs's kube-runtime: a watcher (list, then watch, recovering from every
failure), a reflector feeding a read-only Store, a Controller that reconciles keys from a deduplicating
work queue, finalizer and condition helpers, an Event recorder and leader election.
"""

from __future__ import annotations

__all__: list[str] = []
