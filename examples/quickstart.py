"""The README quick start: get, list and watch pods with the inferred configuration."""

from k8spb import Api, Client
from k8spb.api.core.v1 import Pod

client = Client.try_default()
pods = Api.default_namespaced(client, Pod)
print([p.metadata.name for p in pods.list()])
print(pods.get_opt("web") or "no pod named web")
for event in pods.watch(timeout_seconds=1):
    print(event.type, event.object.metadata.name)
