"""Api[K] / AsyncApi[K]: every verb and subresource for one kind, in one namespace or all.

Requests are built once, in :class:`_Requests` (no IO); ``Api`` and ``AsyncApi`` only send them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from k8spb import _cp
from k8spb._channels import EXEC_PROTOCOLS, PORTFORWARD_PROTOCOL, exec_query, portforward_query
from k8spb._client import AsyncClient, Client
from k8spb._codec import JSON, PROTOBUF
from k8spb._codec._watch import WatchEvent
from k8spb._dynamic import OrStatus
from k8spb._errors import NotFound, TransportError
from k8spb._exec import CHUNK, AsyncProcess, Process
from k8spb._portforward import AsyncPortForward, AsyncPortListener, PortForward, PortListener
from k8spb._registry import class_for
from k8spb._request import (
    Apply,
    DeleteParams,
    ListParams,
    LogParams,
    Patch,
    PatchParams,
    PostParams,
    Request,
    ResourceRef,
    WatchParams,
    accept_for,
    body_for,
    build,
)
from k8spb._schema import Model
from k8spb._traits import ListResource
from k8spb._websocket import aconnect as ws_aconnect
from k8spb._websocket import connect as ws_connect

if TYPE_CHECKING:  # imported when first used: importing k8spb loads no group it does not need
    from k8spb.api.autoscaling.v1 import Scale
    from k8spb.api.policy.v1 import Eviction
    from k8spb.apimachinery.pkg.apis.meta.v1 import PartialObjectMetadata, PartialObjectMetadataList, Status

__all__ = ["Api", "AsyncApi"]

K = TypeVar("K")

_META = "g=meta.k8s.io;v=v1"


def _metadata_accept(kind: str) -> str:
    return f"{PROTOBUF};as={kind};{_META}, {JSON};as={kind};{_META}, {JSON}"


_TABLE_ACCEPT = f"{JSON};as=Table;v=v1;g=meta.k8s.io, {JSON}"


class _Requests(Generic[K]):
    """Builds the requests of one kind in one namespace (or all namespaces)."""

    def __init__(self, model: type[K], namespace: str | None, prefer_protobuf: bool,
                 resource: ResourceRef | None = None) -> None:
        self.model = model
        self.ref = resource if resource is not None else ResourceRef.of(model)
        self.namespace = namespace if self.ref.namespaced else None
        dynamic = not (isinstance(model, type) and issubclass(model, Model)) or model._dynamic
        self.accept = accept_for(self.ref, prefer_protobuf and not dynamic)  # DynamicObject reads JSON
        self.protobuf = prefer_protobuf and self.ref.protobuf and not dynamic
        self.list_model: type[Any]
        if not dynamic:
            list_kind = getattr(model, "list_kind", "") or f"{self.ref.kind}List"
            self.list_model = class_for(self.ref.api_version, list_kind)
        else:
            from k8spb._dynamic import DynamicList

            self.list_model = DynamicList
        # a delete answers with the object (or list) or a Status: built-in kinds are told apart by their
        # kind; objects of custom resources and dynamic ones are decoded as asked
        json_only = dynamic or getattr(model, "_json_only", False)
        self.deleted: Any = OrStatus(model) if json_only else None
        self.deleted_list: Any = OrStatus(self.list_model) if json_only else None

    def _path(self, name: str | None = None, sub: str | None = None, *, need_ns: bool = False) -> str:
        if need_ns and self.ref.namespaced and self.namespace is None:
            raise ValueError(f"{self.ref.kind} is namespaced: this operation needs an Api with a namespace")
        return self.ref.path(self.namespace, name, sub)

    def get(self, name: str, sub: str | None = None, resource_version: str | None = None,
            accept: str | None = None) -> Request:
        query = [("resourceVersion", resource_version)] if resource_version is not None else []
        return build("GET", self._path(name, sub, need_ns=True), self.ref, accept=accept or self.accept, query=query)

    def list(self, params: ListParams, accept: str | None = None) -> Request:
        return build("GET", self._path(), self.ref, accept=accept or self.accept, query=params.query())

    def watch(self, params: WatchParams, accept: str | None = None) -> Request:
        return build("GET", self._path(), self.ref, accept=accept or self.accept, query=params.query())

    def create(self, obj: Any, params: PostParams, sub: str | None = None, name: str | None = None) -> Request:
        body, ct = body_for(obj, self.ref, self.protobuf)
        path = self._path(name, sub, need_ns=True)
        return build("POST", path, self.ref, accept=self.accept, query=params.query(), body=body, content_type=ct,
                     idempotent=False)

    def replace(self, name: str, obj: Any, params: PostParams, sub: str | None = None) -> Request:
        body, ct = body_for(obj, self.ref, self.protobuf)
        return build("PUT", self._path(name, sub, need_ns=True), self.ref, accept=self.accept, query=params.query(),
                     body=body, content_type=ct, idempotent=True)

    def patch(self, name: str, patch: Patch, params: PatchParams, sub: str | None = None) -> Request:
        if isinstance(patch, Apply) and not params.field_manager:
            raise ValueError("server-side apply needs PatchParams(field_manager=...)")
        return build("PATCH", self._path(name, sub, need_ns=True), self.ref, accept=self.accept,
                     query=params.query(), body=patch.body(), content_type=patch.content_type,
                     idempotent=isinstance(patch, Apply))

    def delete(self, name: str, params: DeleteParams) -> Request:
        return build("DELETE", self._path(name, need_ns=True), self.ref, accept=self.accept, body=params.body(),
                     content_type=JSON, idempotent=True)

    def delete_collection(self, list_params: ListParams, params: DeleteParams) -> Request:
        return build("DELETE", self._path(), self.ref, accept=self.accept, query=list_params.query(),
                     body=params.body(), content_type=JSON, idempotent=True)

    def logs(self, name: str, params: LogParams) -> Request:
        return build("GET", self._path(name, "log", need_ns=True), self.ref, accept="text/plain, */*",
                     query=params.query())

    def get_metadata(self, name: str) -> Request:
        return self.get(name, accept=_metadata_accept("PartialObjectMetadata"))

    def list_metadata(self, params: ListParams) -> Request:
        return self.list(params, _metadata_accept("PartialObjectMetadataList"))

    def watch_metadata(self, params: WatchParams) -> Request:
        return self.watch(params, _metadata_accept("PartialObjectMetadata"))

    def list_table(self, params: ListParams) -> Request:
        return self.list(params, _TABLE_ACCEPT)


def _next_page(params: ListParams, page: ListResource[Any]) -> ListParams | None:
    token = page.continue_token
    return replace(params, continue_token=token) if token else None


class _ApiBase(Generic[K]):
    _requests: _Requests[K]

    @property
    def namespace(self) -> str | None:
        """The namespace this Api works in (None: all namespaces, or a cluster-scoped kind)."""
        return self._requests.namespace

    @property
    def model(self) -> type[K]:
        """The class objects are decoded into."""
        return self._requests.model

    @property
    def resource(self) -> ResourceRef:
        """Where the kind lives on the server: group, version, kind, plural, scope."""
        return self._requests.ref

    def __repr__(self) -> str:
        where = f"namespace={self.namespace!r}" if self.namespace else "all namespaces"
        return f"{type(self).__name__}[{self.model.__name__}]({where})"


def _meta_models() -> tuple[type[PartialObjectMetadata], type[PartialObjectMetadataList]]:
    from k8spb.apimachinery.pkg.apis.meta.v1 import PartialObjectMetadata, PartialObjectMetadataList

    return PartialObjectMetadata, PartialObjectMetadataList


def _scale() -> type[Scale]:
    from k8spb.api.autoscaling.v1 import Scale

    return Scale


def _table(text: str) -> dict[str, Any]:
    import json

    table: dict[str, Any] = json.loads(text)
    return table


class Api(_ApiBase[K]):
    """Verbs for one kind: ``Api(client, Pod, namespace="default")``."""

    def __init__(self, client: Client, model: type[K], namespace: str | None = None, *,
                 resource: ResourceRef | None = None) -> None:
        self.client = client
        self._requests = _Requests(model, namespace, client.prefer_protobuf, resource)

    @classmethod
    def all(cls, client: Client, model: type[K]) -> Api[K]:
        """All namespaces (or a cluster-scoped kind)."""
        return cls(client, model, None)

    @classmethod
    def default_namespaced(cls, client: Client, model: type[K]) -> Api[K]:
        """The configuration's default namespace."""
        return cls(client, model, client.namespace)

    def get(self, name: str, *, resource_version: str | None = None) -> K:
        obj: K = self.client.request(self._requests.get(name, resource_version=resource_version), self.model)
        return obj

    def get_opt(self, name: str) -> K | None:
        """Like get, but None when the object does not exist."""
        try:
            return self.get(name)
        except NotFound:
            return None

    def list(self, params: ListParams | None = None, **kwargs: Any) -> ListResource[K]:
        """One page of objects: iterate it for the items; ``.resource_version``, ``.continue_token``."""
        p = params or ListParams(**kwargs)
        page: ListResource[K] = self.client.request(self._requests.list(p), self._requests.list_model)
        return page

    def list_all(self, params: ListParams | None = None, **kwargs: Any) -> Iterator[K]:
        """Every object, following ``continue`` tokens page by page."""
        p: ListParams | None = params or ListParams(**kwargs)
        while p is not None:
            page = self.list(p)
            yield from page
            p = _next_page(p, page)

    def watch(self, params: WatchParams | None = None, **kwargs: Any) -> Iterator[WatchEvent[K]]:
        """Raw watch events; ERROR events are raised (a 410 Gone means: list again)."""
        p = params or WatchParams(**kwargs)
        return self.client.watch(self._requests.watch(p), self.model)

    def _watch_raw(self, params: WatchParams) -> Iterator[WatchEvent[Any]]:
        """Like watch, with objects of Go's frames left unparsed (RawObject): for k8spb.runtime."""
        return self.client.watch(self._requests.watch(params), self.model, raw=True)

    def create(self, obj: K, params: PostParams | None = None) -> K:
        out: K = self.client.request(self._requests.create(obj, params or PostParams()), self.model)
        return out

    def replace(self, name: str, obj: K, params: PostParams | None = None) -> K:
        out: K = self.client.request(self._requests.replace(name, obj, params or PostParams()), self.model)
        return out

    def patch(self, name: str, patch: Patch, params: PatchParams | None = None) -> K:
        out: K = self.client.request(self._requests.patch(name, patch, params or PatchParams()), self.model)
        return out

    def delete(self, name: str, params: DeleteParams | None = None) -> K | Status:
        """Delete; the object (still there, being finalized) or a Status (gone)."""
        out: K | Status = self.client.request(self._requests.delete(name, params or DeleteParams()),
                                              self._requests.deleted)
        return out

    def delete_collection(self, list_params: ListParams | None = None,
                          params: DeleteParams | None = None) -> ListResource[K] | Status:
        """Delete every object the list parameters select; the list of them, or a Status."""
        out: ListResource[K] | Status = self.client.request(
            self._requests.delete_collection(list_params or ListParams(), params or DeleteParams()),
            self._requests.deleted_list)
        return out

    # subresources ---------------------------------------------------------------------------------------

    def get_status(self, name: str) -> K:
        out: K = self.client.request(self._requests.get(name, "status"), self.model)
        return out

    def replace_status(self, name: str, obj: K, params: PostParams | None = None) -> K:
        out: K = self.client.request(self._requests.replace(name, obj, params or PostParams(), "status"), self.model)
        return out

    def patch_status(self, name: str, patch: Patch, params: PatchParams | None = None) -> K:
        out: K = self.client.request(self._requests.patch(name, patch, params or PatchParams(), "status"),
                                     self.model)
        return out

    def get_scale(self, name: str) -> Scale:
        out: Scale = self.client.request(self._requests.get(name, "scale"), _scale())
        return out

    def replace_scale(self, name: str, scale: Scale, params: PostParams | None = None) -> Scale:
        out: Scale = self.client.request(self._requests.replace(name, scale, params or PostParams(), "scale"),
                                         _scale())
        return out

    def patch_scale(self, name: str, patch: Patch, params: PatchParams | None = None) -> Scale:
        out: Scale = self.client.request(self._requests.patch(name, patch, params or PatchParams(), "scale"),
                                         _scale())
        return out

    def logs(self, name: str, params: LogParams | None = None, **kwargs: Any) -> str:
        """The log of a pod's container (pods only)."""
        return self.client.request_text(self._requests.logs(name, params or LogParams(**kwargs)))

    def log_stream(self, name: str, params: LogParams | None = None, **kwargs: Any) -> Iterator[str]:
        """Follow a pod's log line by line."""
        p = replace(params or LogParams(**kwargs), follow=True)
        return self.client.stream_lines(self._requests.logs(name, p))

    def evict(self, name: str, eviction: Eviction, params: PostParams | None = None) -> Status:
        """Create a policy/v1 Eviction for a pod."""
        out: Status = self.client.request(self._requests.create(eviction, params or PostParams(), "eviction", name))
        return out

    # metadata only and tables -----------------------------------------------------------------------

    def get_metadata(self, name: str) -> PartialObjectMetadata:
        """The object's PartialObjectMetadata (protobuf, also for custom resources)."""
        out: PartialObjectMetadata = self.client.request(self._requests.get_metadata(name), _meta_models()[0])
        return out

    def list_metadata(self, params: ListParams | None = None, **kwargs: Any) -> PartialObjectMetadataList:
        """A PartialObjectMetadataList page."""
        req = self._requests.list_metadata(params or ListParams(**kwargs))
        out: PartialObjectMetadataList = self.client.request(req, _meta_models()[1])
        return out

    def watch_metadata(self, params: WatchParams | None = None,
                       **kwargs: Any) -> Iterator[WatchEvent[PartialObjectMetadata]]:
        """Watch events carrying only metadata (PartialObjectMetadata)."""
        req = self._requests.watch_metadata(params or WatchParams(**kwargs))
        return self.client.watch(req, _meta_models()[0])

    def list_table(self, params: ListParams | None = None, **kwargs: Any) -> dict[str, Any]:
        """The server-side table (``kubectl get`` columns) as a JSON dict."""
        return _table(self.client.request_text(self._requests.list_table(params or ListParams(**kwargs))))

    # exec, attach, port-forward, cp (pods) ----------------------------------------------------------

    def exec(self, name: str, command: Sequence[str], *, container: str | None = None, stdin: bool = False,
             stdout: bool = True, stderr: bool = True, tty: bool = False) -> Process:
        """Run ``command`` in a container of pod ``name``; ``Process.wait()`` gives its exit code."""
        query = exec_query(command, container, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
        ws = ws_connect(self.client, _stream_request(self._requests, name, "exec", query), EXEC_PROTOCOLS)
        return Process(ws, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)

    def attach(self, name: str, *, container: str | None = None, stdin: bool = False, stdout: bool = True,
               stderr: bool = True, tty: bool = False) -> Process:
        """Attach to the main process of a container of pod ``name``."""
        query = exec_query((), container, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
        ws = ws_connect(self.client, _stream_request(self._requests, name, "attach", query), EXEC_PROTOCOLS)
        return Process(ws, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)

    def portforward(self, name: str, ports: Sequence[int]) -> PortForward:
        """Forward ``ports`` of pod ``name`` over one connection: ``.stream(port)`` reads and writes each."""
        req = _stream_request(self._requests, name, "portforward", portforward_query(ports))
        return PortForward(ws_connect(self.client, req, (PORTFORWARD_PROTOCOL,)), ports)

    def portforward_listen(self, name: str, ports: Mapping[int, int] | Sequence[int], *,
                           address: str = "127.0.0.1") -> PortListener:
        """Listen on local ports (``{local: remote}``, or remote ports listened on as is; local 0 picks a free
        one) and forward every connection to pod ``name``, like ``kubectl port-forward``."""
        return PortListener(lambda port: self.portforward(name, [port]), ports, address)

    def cp_to(self, name: str, local: str | os.PathLike[str], remote: str, *, container: str | None = None) -> None:
        """Copy a local file or directory into a container so that it becomes ``remote`` (tar over exec)."""
        command = _cp.tar_extract(remote)
        proc = self.exec(name, command, container=container, stdin=True, stdout=False, stderr=True)
        with proc:
            assert proc.stdin is not None
            with contextlib.suppress(TransportError):  # tar stopped reading: its exit status says why
                _cp.pack(local, remote, _cp.TarSink(proc.stdin.write))
            _, err = proc.communicate()
            _cp.check(command, proc.wait(), err, f"cp to pod {name}")

    def cp_from(self, name: str, remote: str, local: str | os.PathLike[str], *,
                container: str | None = None) -> Sequence[str]:
        """Copy a file or directory out of a container to ``local``; returns the names skipped (links,
        devices)."""
        command = _cp.tar_create(remote)
        with self.exec(name, command, container=container, stdout=True, stderr=True) as proc:
            skipped = _cp.extract(proc.stdout, remote, local)
            _, err = proc.communicate()
            _cp.check(command, proc.wait(), err, f"cp from pod {name}")
        return skipped


class AsyncApi(_ApiBase[K]):
    """Verbs for one kind, asyncio flavour: ``AsyncApi(client, Pod, namespace="default")``."""

    def __init__(self, client: AsyncClient, model: type[K], namespace: str | None = None, *,
                 resource: ResourceRef | None = None) -> None:
        self.client = client
        self._requests = _Requests(model, namespace, client.prefer_protobuf, resource)

    @classmethod
    def all(cls, client: AsyncClient, model: type[K]) -> AsyncApi[K]:
        """All namespaces (or a cluster-scoped kind)."""
        return cls(client, model, None)

    @classmethod
    def default_namespaced(cls, client: AsyncClient, model: type[K]) -> AsyncApi[K]:
        """The configuration's default namespace."""
        return cls(client, model, client.namespace)

    async def get(self, name: str, *, resource_version: str | None = None) -> K:
        obj: K = await self.client.request(self._requests.get(name, resource_version=resource_version), self.model)
        return obj

    async def get_opt(self, name: str) -> K | None:
        """Like get, but None when the object does not exist."""
        try:
            return await self.get(name)
        except NotFound:
            return None

    async def list(self, params: ListParams | None = None, **kwargs: Any) -> ListResource[K]:
        """One page of objects: iterate it for the items; ``.resource_version``, ``.continue_token``."""
        page: ListResource[K] = await self.client.request(self._requests.list(params or ListParams(**kwargs)),
                                                          self._requests.list_model)
        return page

    async def list_all(self, params: ListParams | None = None, **kwargs: Any) -> AsyncIterator[K]:
        """Every object, following ``continue`` tokens page by page."""
        p: ListParams | None = params or ListParams(**kwargs)
        while p is not None:
            page = await self.list(p)
            for item in page:
                yield item
            p = _next_page(p, page)

    def watch(self, params: WatchParams | None = None, **kwargs: Any) -> AsyncIterator[WatchEvent[K]]:
        """Raw watch events; ERROR events are raised (a 410 Gone means: list again)."""
        return self.client.watch(self._requests.watch(params or WatchParams(**kwargs)), self.model)

    def _watch_raw(self, params: WatchParams) -> AsyncIterator[WatchEvent[Any]]:
        """Like watch, with objects of Go's frames left unparsed (RawObject): for k8spb.runtime."""
        return self.client.watch(self._requests.watch(params), self.model, raw=True)

    async def create(self, obj: K, params: PostParams | None = None) -> K:
        out: K = await self.client.request(self._requests.create(obj, params or PostParams()), self.model)
        return out

    async def replace(self, name: str, obj: K, params: PostParams | None = None) -> K:
        out: K = await self.client.request(self._requests.replace(name, obj, params or PostParams()), self.model)
        return out

    async def patch(self, name: str, patch: Patch, params: PatchParams | None = None) -> K:
        out: K = await self.client.request(self._requests.patch(name, patch, params or PatchParams()), self.model)
        return out

    async def delete(self, name: str, params: DeleteParams | None = None) -> K | Status:
        """Delete; the object (still there, being finalized) or a Status (gone)."""
        out: K | Status = await self.client.request(self._requests.delete(name, params or DeleteParams()),
                                                    self._requests.deleted)
        return out

    async def delete_collection(self, list_params: ListParams | None = None,
                                params: DeleteParams | None = None) -> ListResource[K] | Status:
        """Delete every object the list parameters select; the list of them, or a Status."""
        out: ListResource[K] | Status = await self.client.request(
            self._requests.delete_collection(list_params or ListParams(), params or DeleteParams()),
            self._requests.deleted_list)
        return out

    # subresources ---------------------------------------------------------------------------------------

    async def get_status(self, name: str) -> K:
        out: K = await self.client.request(self._requests.get(name, "status"), self.model)
        return out

    async def replace_status(self, name: str, obj: K, params: PostParams | None = None) -> K:
        out: K = await self.client.request(self._requests.replace(name, obj, params or PostParams(), "status"),
                                           self.model)
        return out

    async def patch_status(self, name: str, patch: Patch, params: PatchParams | None = None) -> K:
        out: K = await self.client.request(self._requests.patch(name, patch, params or PatchParams(), "status"),
                                           self.model)
        return out

    async def get_scale(self, name: str) -> Scale:
        out: Scale = await self.client.request(self._requests.get(name, "scale"), _scale())
        return out

    async def replace_scale(self, name: str, scale: Scale, params: PostParams | None = None) -> Scale:
        out: Scale = await self.client.request(self._requests.replace(name, scale, params or PostParams(), "scale"),
                                               _scale())
        return out

    async def patch_scale(self, name: str, patch: Patch, params: PatchParams | None = None) -> Scale:
        out: Scale = await self.client.request(self._requests.patch(name, patch, params or PatchParams(), "scale"),
                                               _scale())
        return out

    async def logs(self, name: str, params: LogParams | None = None, **kwargs: Any) -> str:
        """The log of a pod's container (pods only)."""
        return await self.client.request_text(self._requests.logs(name, params or LogParams(**kwargs)))

    def log_stream(self, name: str, params: LogParams | None = None, **kwargs: Any) -> AsyncIterator[str]:
        """Follow a pod's log line by line."""
        p = replace(params or LogParams(**kwargs), follow=True)
        return self.client.stream_lines(self._requests.logs(name, p))

    async def evict(self, name: str, eviction: Eviction, params: PostParams | None = None) -> Status:
        """Create a policy/v1 Eviction for a pod."""
        out: Status = await self.client.request(self._requests.create(eviction, params or PostParams(), "eviction",
                                                                      name))
        return out

    # metadata only and tables -----------------------------------------------------------------------

    async def get_metadata(self, name: str) -> PartialObjectMetadata:
        """The object's PartialObjectMetadata (protobuf, also for custom resources)."""
        out: PartialObjectMetadata = await self.client.request(self._requests.get_metadata(name), _meta_models()[0])
        return out

    async def list_metadata(self, params: ListParams | None = None, **kwargs: Any) -> PartialObjectMetadataList:
        """A PartialObjectMetadataList page."""
        req = self._requests.list_metadata(params or ListParams(**kwargs))
        out: PartialObjectMetadataList = await self.client.request(req, _meta_models()[1])
        return out

    def watch_metadata(self, params: WatchParams | None = None,
                       **kwargs: Any) -> AsyncIterator[WatchEvent[PartialObjectMetadata]]:
        """Watch events carrying only metadata (PartialObjectMetadata)."""
        req = self._requests.watch_metadata(params or WatchParams(**kwargs))
        return self.client.watch(req, _meta_models()[0])

    async def list_table(self, params: ListParams | None = None, **kwargs: Any) -> dict[str, Any]:
        """The server-side table (``kubectl get`` columns) as a JSON dict."""
        return _table(await self.client.request_text(self._requests.list_table(params or ListParams(**kwargs))))

    # exec, attach, port-forward, cp (pods) ----------------------------------------------------------

    async def exec(self, name: str, command: Sequence[str], *, container: str | None = None, stdin: bool = False,
                   stdout: bool = True, stderr: bool = True, tty: bool = False) -> AsyncProcess:
        query = exec_query(command, container, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
        ws = await ws_aconnect(self.client, _stream_request(self._requests, name, "exec", query), EXEC_PROTOCOLS)
        return AsyncProcess(ws, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)

    async def attach(self, name: str, *, container: str | None = None, stdin: bool = False, stdout: bool = True,
                     stderr: bool = True, tty: bool = False) -> AsyncProcess:
        query = exec_query((), container, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
        ws = await ws_aconnect(self.client, _stream_request(self._requests, name, "attach", query), EXEC_PROTOCOLS)
        return AsyncProcess(ws, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)

    async def portforward(self, name: str, ports: Sequence[int]) -> AsyncPortForward:
        req = _stream_request(self._requests, name, "portforward", portforward_query(ports))
        return AsyncPortForward(await ws_aconnect(self.client, req, (PORTFORWARD_PROTOCOL,)), ports)

    async def portforward_listen(self, name: str, ports: Mapping[int, int] | Sequence[int], *,
                                 address: str = "127.0.0.1") -> AsyncPortListener:
        return await AsyncPortListener.start(lambda port: self.portforward(name, [port]), ports, address)

    async def cp_to(self, name: str, local: str | os.PathLike[str], remote: str, *,
                    container: str | None = None) -> None:
        import asyncio  # on use: ``import k8spb`` leaves asyncio out

        command = _cp.tar_extract(remote)
        with tempfile.TemporaryFile() as spool:
            await asyncio.to_thread(_cp.pack, local, remote, spool)
            spool.seek(0)
            async with await self.exec(name, command, container=container, stdin=True, stdout=False,
                                        stderr=True) as proc:
                assert proc.stdin is not None
                with contextlib.suppress(TransportError):  # tar stopped reading: its exit status says why
                    while chunk := spool.read(CHUNK):
                        await proc.stdin.write(chunk)
                _, err = await proc.communicate()
                _cp.check(command, await proc.wait(), err, f"cp to pod {name}")

    async def cp_from(self, name: str, remote: str, local: str | os.PathLike[str], *,
                      container: str | None = None) -> Sequence[str]:
        import asyncio  # on use: ``import k8spb`` leaves asyncio out

        command = _cp.tar_create(remote)
        with tempfile.TemporaryFile() as spool:
            async with await self.exec(name, command, container=container, stdout=True, stderr=True) as proc:
                assert proc.stdout is not None
                while chunk := await proc.stdout.read1():
                    spool.write(chunk)
                _, err = await proc.communicate()
                _cp.check(command, await proc.wait(), err, f"cp from pod {name}")
            spool.seek(0)
            return await asyncio.to_thread(_cp.extract, spool, remote, local)


def _stream_request(requests: _Requests[Any], name: str, sub: str, query: list[tuple[str, str]]) -> Request:
    """The upgrade request of a pod's exec, attach or portforward subresource."""
    ref = requests.ref
    if (ref.group, ref.plural) != ("", "pods"):
        raise TypeError(f"{sub} is a subresource of pods, not of {ref.plural}")
    return build("GET", requests._path(name, sub, need_ns=True), ref, accept="*/*", query=query, idempotent=False)
