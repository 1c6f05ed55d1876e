"""List the cluster's nodes with their kubelet versions (cluster-scoped resource, protobuf on the wire)."""

from k8spb import Api, Client
from k8spb.api.core.v1 import Node

with Client.try_default() as client:
    nodes = list(Api.all(client, Node).list_all())
    for node in nodes:
        info = node.status.node_info if node.status else None
        print(node.metadata.name, info.kubelet_version if info else "?")
    print(f"{len(nodes)} node(s)")
