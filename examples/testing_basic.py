"""Start an in-memory API server, create a ConfigMap over HTTP and watch it with k8spb models."""

from __future__ import annotations

import httpx

import k8spb
from k8spb.api.core.v1 import ConfigMap
from k8spb.testing import ApiServer

with ApiServer() as srv, httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {srv.token}"}) as http:
    cm = ConfigMap.from_dict({"metadata": {"name": "demo"}, "data": {"k": "v"}})
    r = http.post("/api/v1/namespaces/default/configmaps", content=k8spb.encode(cm, k8spb.PROTOBUF),
                  headers={"Content-Type": k8spb.PROTOBUF, "Accept": k8spb.PROTOBUF})
    created = k8spb.decode(r.content, r.headers["content-type"], into=ConfigMap)
    print(created.metadata.name, created.metadata.resource_version)
    print("kubectl --kubeconfig", srv.kubeconfig_path, "get configmaps")
