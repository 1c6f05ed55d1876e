"""Create a pod, get it, list pods by label across namespaces, then delete it."""

from k8spb import Api, Client
from k8spb.api.core.v1 import Container, Pod, PodSpec
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta

with Client.try_default() as client:
    pods = Api.default_namespaced(client, Pod)
    pods.create(Pod(metadata=ObjectMeta(name="example", labels={"app": "example"}),
                    spec=PodSpec(containers=[Container(name="main", image="nginx:1.27")])))
    pod = pods.get("example")
    print("got", pod.metadata.name, pod.spec.containers[0].image, pod.metadata.uid)
    for p in Api.all(client, Pod).list_all(label_selector="app=example"):
        print("listed", p.metadata.namespace, p.metadata.name)
    pods.delete("example")
