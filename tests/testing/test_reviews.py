"""TokenRequest, the review resources and RBAC evaluation (k8spb.testing._reviews and _authn), over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from k8spb.testing import ApiServer
from k8spb.testing._authn import Tokens

pytestmark = pytest.mark.timeout(30)

SA = "/api/v1/namespaces/default/serviceaccounts"


@pytest.fixture(scope="module")
def srv() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


@pytest.fixture
def admin(srv: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=10, headers={"Authorization": f"Bearer {srv.token}"}) as c:
        yield c


def token_for(admin: httpx.Client, account: str, **spec: Any) -> dict[str, Any]:
    r = admin.post(f"{SA}/{account}/token", json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                                   "spec": spec})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_token_request_issues_a_working_token(srv: ApiServer, admin: httpx.Client) -> None:
    account = admin.get(f"{SA}/default").json()
    issued = token_for(admin, "default", expirationSeconds=900)
    assert issued["kind"] == "TokenRequest" and issued["metadata"]["name"] == "default"
    assert issued["spec"] == {"audiences": ["https://kubernetes.default.svc.cluster.local"], "expirationSeconds": 900}
    token = issued["status"]["token"]
    claims = Tokens.claims(token)
    assert claims["sub"] == "system:serviceaccount:default:default"
    assert claims["kubernetes.io"]["serviceaccount"] == {"name": "default", "uid": account["metadata"]["uid"]}
    assert claims["exp"] - claims["iat"] == 900 and abs(claims["iat"] - time.time()) < 60
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}) as as_sa:
        me = as_sa.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                        json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).json()
    info = me["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:default" and info["uid"] == account["metadata"]["uid"]
    assert info["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]
    assert info["extra"]["authentication.kubernetes.io/credential-id"] == [f"JTI={claims['jti']}"]


def test_token_request_errors(admin: httpx.Client) -> None:
    r = admin.post(f"{SA}/default/token", json={"spec": {"expirationSeconds": 10}})
    assert r.status_code == 422
    assert r.json()["message"] == ('TokenRequest.authentication.k8s.io "default" is invalid: spec.expirationSeconds: '
                                   'Invalid value: 10: may not specify a duration less than 10 minutes')
    assert admin.post(f"{SA}/nobody/token", json={"spec": {}}).status_code == 404
    r = admin.post(f"{SA}/default/token", json={"spec": {"boundObjectRef": {"kind": "ConfigMap", "name": "x"}}})
    assert r.status_code == 400


def test_tokens_die_with_their_account_and_bad_tokens_are_401(srv: ApiServer, admin: httpx.Client) -> None:
    admin.post(SA, json={"metadata": {"name": "shortlived"}})
    token = token_for(admin, "shortlived")["status"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{srv.url}/api/v1/namespaces", headers=headers).status_code == 200
    admin.delete(f"{SA}/shortlived")
    assert httpx.get(f"{srv.url}/api/v1/namespaces", headers=headers).status_code == 401
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert httpx.get(f"{srv.url}/api", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_token_review(admin: httpx.Client) -> None:
    token = token_for(admin, "default", audiences=["api", "vault"])["status"]["token"]
    url = "/apis/authentication.k8s.io/v1/tokenreviews"
    review = admin.post(url, json={"spec": {"token": token, "audiences": ["vault"]}}).json()
    assert review["status"]["authenticated"] is True and review["status"]["audiences"] == ["vault"]
    assert review["status"]["user"]["username"] == "system:serviceaccount:default:default"
    wrong = admin.post(url, json={"spec": {"token": token, "audiences": ["other"]}}).json()
    assert "authenticated" not in wrong["status"] and wrong["status"]["error"]
    assert "authenticated" not in admin.post(url, json={"spec": {"token": "nonsense"}}).json()["status"]


def review(client: httpx.Client, **attributes: str) -> dict[str, Any]:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes}}
    r = client.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=body)
    assert r.status_code == 201, r.text
    status: dict[str, Any] = r.json()["status"]
    return status


def test_access_reviews_follow_rbac(srv: ApiServer, admin: httpx.Client) -> None:
    allowed = review(admin, verb="delete", resource="nodes")
    assert allowed == {"allowed": True, "reason": 'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole '
                                                  '"cluster-admin" to Group "system:masters"'}
    admin.post(SA, json={"metadata": {"name": "reader"}})
    token = token_for(admin, "reader")["status"]["token"]
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}) as reader:
        assert review(reader, verb="get", resource="pods", namespace="default") == {"allowed": False}
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        admin.post(f"{rbac}/namespaces/default/roles", json={"metadata": {"name": "pod-reader"}, "rules": [
            {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}]})
        admin.post(f"{rbac}/namespaces/default/rolebindings", json={
            "metadata": {"name": "read-pods"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                           "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "default"}]})
        assert review(reader, verb="get", resource="pods", namespace="default")["allowed"] is True
        assert review(reader, verb="get", resource="pods", subresource="log", namespace="default")["allowed"]
        assert not review(reader, verb="delete", resource="pods", namespace="default")["allowed"]
        assert not review(reader, verb="get", resource="pods", namespace="kube-system")["allowed"]
        rules = reader.post("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                            json={"spec": {"namespace": "default"}}).json()["status"]
        assert {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]} in rules[
            "resourceRules"]
    sar = admin.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json={"spec": {
        "user": "system:serviceaccount:default:reader", "groups": ["system:serviceaccounts"],
        "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "default"}}}).json()
    assert sar["status"]["allowed"] is True
    anonymous = httpx.post(f"{srv.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json={
        "spec": {"nonResourceAttributes": {"verb": "get", "path": "/version"}}}).json()
    assert anonymous["status"]["allowed"] is True  # system:public-info-viewer
    assert admin.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews").status_code == 405  # create only
