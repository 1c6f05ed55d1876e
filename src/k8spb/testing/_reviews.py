"""TokenRequest and the review resources: created, computed, never stored.

``serviceaccounts/{name}/token`` issues a token (``kubectl create token``); TokenReview and
SelfSubjectReview say who a token or the caller is (``kubectl auth whoami``); SubjectAccessReview,
LocalSubjectAccessReview, SelfSubjectAccessReview and SelfSubjectRulesReview say what RBAC allows
(``kubectl auth can-i``), from the Roles, ClusterRoles and bindings stored in the server plus a
default cluster's bootstrap policy (``system:masters`` may do anything, every authenticated user may
read discovery and review itself).  The server itself does not enforce RBAC on requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from k8spb._codec import PROTOBUF, decode
from k8spb._errors import DecodeError
from k8spb.testing._authn import ISSUER, UserInfo
from k8spb.testing._resources import ApiError, ResourceType

if TYPE_CHECKING:
    from k8spb.testing._server import ApiServer, _Request
    from k8spb.testing._store import Store

__all__ = ["REVIEWS", "Attributes", "authorize", "create_review", "token_request"]

Obj = dict[str, Any]
REVIEWS = frozenset({("authentication.k8s.io", "tokenreviews"), ("authentication.k8s.io", "selfsubjectreviews"),
                     ("authorization.k8s.io", "subjectaccessreviews"),
                     ("authorization.k8s.io", "localsubjectaccessreviews"),
                     ("authorization.k8s.io", "selfsubjectaccessreviews"),
                     ("authorization.k8s.io", "selfsubjectrulesreviews")})
_RBAC = "rbac.authorization.k8s.io"
_MIN_EXPIRATION, _MAX_EXPIRATION = 600, 1 << 32

# the bootstrap policy every default cluster has: (groups, rules) with rules as kube writes them
_DISCOVERY = {"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                  "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}
_PUBLIC_INFO = {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}
_BASIC_USER = [{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews",
                                                                      "selfsubjectrulesreviews"],
                "verbs": ["create"]},
               {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]
_BOOTSTRAP: list[tuple[str, str, str, list[Obj]]] = [  # (binding, role, group, rules)
    ("cluster-admin", "cluster-admin", "system:masters",
     [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
    ("system:discovery", "system:discovery", "system:authenticated", [_DISCOVERY]),
    ("system:basic-user", "system:basic-user", "system:authenticated", _BASIC_USER),
    ("system:public-info-viewer", "system:public-info-viewer", "system:authenticated", [_PUBLIC_INFO]),
    ("system:public-info-viewer", "system:public-info-viewer", "system:unauthenticated", [_PUBLIC_INFO]),
]


def _decode_body(req: _Request, kind: str) -> Obj:
    data = req.body
    try:
        if req.content_type == PROTOBUF:
            obj: Any = decode(data, PROTOBUF).to_dict()
        else:
            import yaml

            obj = json.loads(data) if req.content_type in ("", "application/json") else yaml.safe_load(data)
    except (DecodeError, ValueError) as exc:
        raise ApiError.bad_request(f"error decoding the request body: {exc}") from None
    if not isinstance(obj, dict) or obj.get("kind") not in (None, "", kind):
        raise ApiError.bad_request(f"the object provided is unrecognized (must be of type {kind})")
    return obj


def _meta(obj: Obj, namespace: str = "") -> Obj:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k in ("name", "labels", "annotations")}
    if namespace:
        meta["namespace"] = namespace
    return meta


# --------------------------------------------------------------------------------------- TokenRequest


def token_request(api: ApiServer, req: _Request, rt: ResourceType, namespace: str, name: str) -> None:
    """``POST serviceaccounts/{name}/token``: a TokenRequest with its token in ``status``."""
    if req.method != "POST":
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    body = _decode_body(req, "TokenRequest")
    spec = dict(body.get("spec") or {})
    account = api.store.get(rt, namespace, name)
    seconds = spec.get("expirationSeconds", 3600)
    group_kind = "TokenRequest.authentication.k8s.io"
    if not isinstance(seconds, int) or seconds < _MIN_EXPIRATION:
        raise ApiError(422, "Invalid", f'{group_kind} "{name}" is invalid: spec.expirationSeconds: Invalid value: '
                       f"{seconds}: may not specify a duration less than 10 minutes")
    if seconds > _MAX_EXPIRATION:
        raise ApiError(422, "Invalid", f'{group_kind} "{name}" is invalid: spec.expirationSeconds: Invalid value: '
                       f"{seconds}: may not specify a duration larger than 2^32 seconds")
    audiences = list(spec.get("audiences") or [ISSUER])
    bound = None
    ref = spec.get("boundObjectRef")
    if ref:
        bound = _bound_object(api, namespace, ref)
    token, expires = api.tokens.issue(namespace, account, seconds, audiences, bound)
    spec.update({"audiences": audiences, "expirationSeconds": seconds})
    out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
           "metadata": {"name": name, "namespace": namespace,
                        "creationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
           "spec": spec,
           "status": {"token": token,
                      "expirationTimestamp": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    neg = api._negotiate(req)
    api._send_obj(req, neg, out, 201)


def _bound_object(api: ApiServer, namespace: str, ref: Obj) -> dict[str, str]:
    kind = ref.get("kind", "")
    plurals = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}
    if kind not in plurals:
        raise ApiError.bad_request(f'cannot bind token for object of kind "{kind}"')
    rt = api.resources.get("", "v1", plurals[kind])
    assert rt is not None
    obj = api.store.get(rt, namespace, ref.get("name", ""))
    uid = obj["metadata"].get("uid", "")
    if ref.get("uid") and ref["uid"] != uid:
        raise ApiError(409, "Conflict", f"the UID in the bound object reference ({ref['uid']}) does not match the "
                       "UID in record. The object might have been deleted and then recreated")
    return {"kind": kind, "name": obj["metadata"]["name"], "uid": uid}


# --------------------------------------------------------------------------------------------- RBAC


@dataclass(frozen=True)
class Attributes:
    """What a review asks about (kube's authorizer.Attributes)."""

    verb: str
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""

    @property
    def resource_request(self) -> bool:
        return not self.path


def _matches(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def _rule_allows(rule: Obj, attrs: Attributes) -> bool:
    if not _matches(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        for url in rule.get("nonResourceURLs") or ():
            if url == "*" or url == attrs.path or (url.endswith("*") and attrs.path.startswith(url[:-1])):
                return True
        return False
    if not _matches(rule.get("apiGroups"), attrs.group):
        return False
    resources = rule.get("resources") or []
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if not ("*" in resources or combined in resources
            or (attrs.subresource and f"*/{attrs.subresource}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _subject_matches(subject: Obj, user: UserInfo, namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(name == user.username)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        return user.username == f"system:serviceaccount:{subject.get('namespace') or namespace}:{name}"
    return False


def _describe(subject: Obj, namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name")}/{subject.get("namespace") or namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


def authorize(store: Store, user: UserInfo, attrs: Attributes) -> tuple[bool, str]:
    """(allowed, reason) as kube's RBAC authorizer decides, from the bootstrap and the stored policy."""
    for bootstrap_binding, bootstrap_role, group, rules in _BOOTSTRAP:
        if group in user.groups and any(_rule_allows(r, attrs) for r in rules):
            return True, (f'RBAC: allowed by ClusterRoleBinding "{bootstrap_binding}" of ClusterRole '
                          f'"{bootstrap_role}" to Group "{group}"')
    data = store.data
    cluster_roles = data.get((_RBAC, "clusterroles"), {})
    for (_, binding_name), binding in sorted(data.get((_RBAC, "clusterrolebindings"), {}).items()):
        ref = binding.get("roleRef") or {}
        role = cluster_roles.get(("", ref.get("name", "")))
        if role is None or ref.get("kind") != "ClusterRole":
            continue
        for subject in binding.get("subjects") or ():
            if _subject_matches(subject, user, "") and any(_rule_allows(r, attrs) for r in role.get("rules") or ()):
                return True, (f'RBAC: allowed by ClusterRoleBinding "{binding_name}" of ClusterRole '
                              f'"{ref.get("name")}" to {_describe(subject, "")}')
    if attrs.namespace:
        roles = data.get((_RBAC, "roles"), {})
        for (ns, binding_name), binding in sorted(data.get((_RBAC, "rolebindings"), {}).items()):
            if ns != attrs.namespace:
                continue
            ref = binding.get("roleRef") or {}
            role = (cluster_roles.get(("", ref.get("name", ""))) if ref.get("kind") == "ClusterRole"
                    else roles.get((ns, ref.get("name", ""))))
            if role is None:
                continue
            for subject in binding.get("subjects") or ():
                if _subject_matches(subject, user, ns) and any(_rule_allows(r, attrs)
                                                                for r in role.get("rules") or ()):
                    return True, (f'RBAC: allowed by RoleBinding "{binding_name}/{ns}" of {ref.get("kind")} '
                                  f'"{ref.get("name")}" to {_describe(subject, ns)}')
    return False, ""


# ------------------------------------------------------------------------------------------ reviews


def _attributes(spec: Obj, namespace: str = "") -> Attributes:
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if resource:
        return Attributes(resource.get("verb", ""), namespace or resource.get("namespace", ""),
                          resource.get("group", ""), resource.get("resource", ""), resource.get("subresource", ""),
                          resource.get("name", ""))
    if non_resource:
        return Attributes(non_resource.get("verb", ""), path=non_resource.get("path", ""))
    raise ApiError(422, "Invalid", 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: '
                   "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be "
                   "specified")


def _review_user(spec: Obj) -> UserInfo:
    groups = tuple(spec.get("groups") or ())
    if spec.get("user") and "system:authenticated" not in groups:
        groups = (*groups, "system:authenticated")
    return UserInfo(spec.get("user", ""), groups, spec.get("uid", ""), dict(spec.get("extra") or {}))


def _rules(store: Store, user: UserInfo, namespace: str) -> tuple[list[Obj], list[Obj]]:
    """(resourceRules, nonResourceRules) the user has in a namespace (SelfSubjectRulesReview)."""
    resource: list[Obj] = []
    non_resource: list[Obj] = []

    def add(rules: list[Obj]) -> None:
        for rule in rules:
            if rule.get("nonResourceURLs"):
                non_resource.append({"verbs": rule["verbs"], "nonResourceURLs": rule["nonResourceURLs"]})
            else:
                resource.append({k: rule[k] for k in ("verbs", "apiGroups", "resources", "resourceNames")
                                 if rule.get(k)})

    for _, _, group, rules in _BOOTSTRAP:
        if group in user.groups:
            add(rules)
    data = store.data
    cluster_roles = data.get((_RBAC, "clusterroles"), {})
    roles = data.get((_RBAC, "roles"), {})
    bindings = [("", b) for b in data.get((_RBAC, "clusterrolebindings"), {}).values()]
    bindings += [(ns, b) for (ns, _), b in data.get((_RBAC, "rolebindings"), {}).items() if ns == namespace]
    for ns, binding in bindings:
        ref = binding.get("roleRef") or {}
        role = (cluster_roles.get(("", ref.get("name", ""))) if ref.get("kind") == "ClusterRole"
                else roles.get((ns, ref.get("name", ""))))
        if role is not None and any(_subject_matches(s, user, ns) for s in binding.get("subjects") or ()):
            add(role.get("rules") or [])
    return resource, non_resource


def create_review(api: ApiServer, req: _Request, rt: ResourceType, namespace: str) -> None:
    """``POST`` of a review resource: the request with its computed ``status``, 201, nothing stored."""
    body = _decode_body(req, rt.kind)
    spec = body.get("spec") or {}
    store = api.store
    out: Obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": _meta(body, namespace)}
    if rt.plural == "tokenreviews":
        audiences = tuple(spec.get("audiences") or ())
        user = api.tokens.user(str(spec.get("token", "")), api.account_uid, audiences)
        out["spec"] = spec
        if user is None:
            out["status"] = {"user": {}, "error": "[invalid bearer token, token lookup failed]"}
        else:
            out["status"] = {"authenticated": True, "user": user.to_dict(),
                             "audiences": list(audiences or (ISSUER,))}
    elif rt.plural == "selfsubjectreviews":
        out["status"] = {"userInfo": req.user.to_dict()}
    elif rt.plural == "selfsubjectrulesreviews":
        ns = spec.get("namespace", "")
        resource, non_resource = _rules(store, req.user, ns)
        out["spec"] = spec
        out["status"] = {"resourceRules": resource, "nonResourceRules": non_resource, "incomplete": False}
    else:
        user = req.user if rt.plural == "selfsubjectaccessreviews" else _review_user(spec)
        allowed, reason = authorize(store, user, _attributes(spec, namespace))
        out["spec"] = spec
        out["status"] = {"allowed": allowed, **({"reason": reason} if reason else {})}
    api._send_obj(req, api._negotiate(req), out, 201)
