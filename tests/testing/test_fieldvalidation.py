"""Unknown fields and ``fieldValidation`` (k8spb.testing._fieldvalidation), over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from k8spb.testing import ApiServer

pytestmark = pytest.mark.timeout(30)

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with ApiServer() as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c


def deployment(name: str) -> dict[str, object]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "colour": "red"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "replica": 3, "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i:1", "imagePolicy": "Always"}]}}}}


UNKNOWN = ['unknown field "metadata.colour"', 'unknown field "spec.replica"',
           'unknown field "spec.template.spec.containers[0].imagePolicy"']


def test_warn_is_the_default(http: httpx.Client) -> None:
    r = http.post(DEPLOYS, json=deployment("warned"))
    assert r.status_code == 201
    assert r.headers.get_list("warning") == ["299 - " + '"' + w.replace('"', '\\"') + '"' for w in UNKNOWN]
    assert "replica" not in r.json()["spec"] and r.json()["spec"]["replicas"] == 1  # dropped, then defaulted


def test_strict_and_ignore(http: httpx.Client) -> None:
    r = http.post(DEPLOYS, params={"fieldValidation": "Strict"}, json=deployment("strict"))
    assert r.status_code == 400
    assert r.json()["message"] == "strict decoding error: " + ", ".join(UNKNOWN)
    r = http.post(DEPLOYS, params={"fieldValidation": "Ignore"}, json=deployment("ignored"))
    assert r.status_code == 201 and "warning" not in r.headers
    r = http.post(DEPLOYS, params={"fieldValidation": "Loud"}, json=deployment("loud"))
    assert r.status_code == 422
    assert r.json()["message"] == ('CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: '
                                   '"Loud": supported values: "", "Ignore", "Strict", "Warn"')


def test_updates_and_patches(http: httpx.Client) -> None:
    http.post(DEPLOYS, params={"fieldValidation": "Ignore"}, json=deployment("patched"))
    r = http.patch(f"{DEPLOYS}/patched", params={"fieldValidation": "Strict"}, content=b'{"spec":{"paused2":true}}',
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 400 and r.json()["message"] == 'strict decoding error: unknown field "spec.paused2"'
    r = http.patch(f"{DEPLOYS}/patched", content=b'{"spec":{"paused2":true}}',
                   headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200 and r.headers["warning"] == '299 - "unknown field \\"spec.paused2\\""'
    current = http.get(f"{DEPLOYS}/patched").json()
    current["spec"]["bogus"] = 1
    r = http.put(f"{DEPLOYS}/patched", params={"fieldValidation": "Strict"}, json=current)
    assert r.status_code == 400 and r.json()["message"] == 'strict decoding error: unknown field "spec.bogus"'


def test_server_side_apply_checks_the_schema_whatever_the_directive(http: httpx.Client) -> None:
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"dataa":{"k":"v"}}'
    r = http.patch("/api/v1/namespaces/default/configmaps/ssa", params={"fieldManager": "me"}, content=body,
                   headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 500
    assert r.json()["message"] == ("failed to create typed patch object (/v1, Kind=ConfigMap; default/ssa): "
                                   ".dataa: field not declared in schema")
