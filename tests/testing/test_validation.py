"""Names, labels and annotations validated with kube's rules and messages (k8spb.testing._validation)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from k8spb.testing import ApiServer
from k8spb.testing._validation import dns1035_label, dns1123_label, dns1123_subdomain, label_value, qualified_name

pytestmark = pytest.mark.timeout(30)

SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
             "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
         "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
           "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
           "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
QNAME = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
         "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
         "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with ApiServer() as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c


def test_rules() -> None:
    assert dns1123_subdomain("a.b-c") == [] and dns1123_subdomain("A") == [SUBDOMAIN]
    assert dns1123_subdomain("a" * 254) == ["must be no more than 253 characters"]
    assert dns1123_label("a.b") == [LABEL] and dns1123_label("0a") == []
    assert dns1035_label("0a") == [DNS1035] and dns1035_label("a0") == []
    assert qualified_name("example.com/My_Key.1") == [] and qualified_name("a b") == [QNAME]
    assert qualified_name("/x") == ["prefix part must be non-empty"]
    assert qualified_name("Bad_Prefix/x") == ["prefix part " + SUBDOMAIN]
    assert qualified_name("a/b/c")[0].startswith("a qualified name must consist of")
    assert label_value("") == [] and label_value("-x")[0].startswith("a valid label must be an empty string")


def test_names_are_validated_per_resource(http: httpx.Client) -> None:
    r = http.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "Bad_Name"}})
    assert r.status_code == 422
    body = r.json()
    assert body["message"] == f'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN}'
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "metadata.name",
                                          "message": f'Invalid value: "Bad_Name": {SUBDOMAIN}'}]
    r = http.post("/api/v1/namespaces", json={"metadata": {"name": "a.b"}})
    assert r.json()["message"] == f'Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": {LABEL}'
    r = http.post("/api/v1/namespaces/default/services", json={"metadata": {"name": "1svc"}})
    assert r.json()["message"] == f'Service "1svc" is invalid: metadata.name: Invalid value: "1svc": {DNS1035}'
    r = http.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", json={"metadata": {"name": "system:thing"}})
    assert r.status_code == 201  # RBAC names are path segments
    r = http.post("/api/v1/namespaces/default/pods", json={"metadata": {"generateName": "Web-"}})
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "metadata.name"


def test_labels_and_annotations(http: httpx.Client) -> None:
    r = http.post("/api/v1/namespaces/default/configmaps",
                  json={"metadata": {"name": "l", "labels": {"a b": "ok", "good": "-bad"}}})
    assert r.status_code == 422
    causes = r.json()["details"]["causes"]
    assert [c["field"] for c in causes] == ["metadata.labels", "metadata.labels"]
    assert causes[0]["message"] == f'Invalid value: "a b": {QNAME}'
    assert r.json()["message"].startswith('ConfigMap "l" is invalid: [metadata.labels: Invalid value: "a b": ')
    r = http.post("/api/v1/namespaces/default/configmaps",
                  json={"metadata": {"name": "l", "annotations": {"example.com/x": "y" * 300_000}}})
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["reason"] == "FieldValueTooLong"
    ok = http.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "l", "labels": {"a": "b"}}})
    assert ok.status_code == 201
    r = http.patch("/api/v1/namespaces/default/configmaps/l", content=b'{"metadata":{"labels":{"x/y/z":"1"}}}',
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422  # updates are validated too
