"""Watch pods from the current resourceVersion while another thread changes one."""

import threading
import time

from k8spb import Api, Client, Merge
from k8spb.api.core.v1 import Container, Pod, PodSpec
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta

with Client.try_default() as client:
    pods = Api.default_namespaced(client, Pod)
    since = pods.list().metadata.resource_version

    def change() -> None:
        time.sleep(0.3)
        pods.create(Pod(metadata=ObjectMeta(name="watched"), spec=PodSpec(containers=[Container(name="c", image="x")])))
        pods.patch("watched", Merge({"metadata": {"labels": {"seen": "yes"}}}))
        pods.delete("watched")

    threading.Thread(target=change).start()
    for event in pods.watch(resource_version=since, timeout_seconds=5):
        print(event.type, event.object.metadata.name, event.object.metadata.resource_version)
        if event.type == "DELETED":
            break
