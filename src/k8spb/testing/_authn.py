"""Who a request is, and the service account tokens TokenRequest issues.

Three kinds of credentials are accepted, as a default cluster's authenticators would: the server's
own bearer token (the administrator: ``k8spb-admin`` in ``system:masters``), a client certificate
signed by the server's CA (its common name is the user, its organisations the groups), and a token
issued by ``serviceaccounts/token`` (the service account, while the account exists and the token
has not expired).  Requests without credentials are anonymous.

Issued tokens are JWTs with kube's claims (``iss``, ``sub``, ``aud``, ``kubernetes.io``), signed
with HS256 under a key generated per server; clients treat them as opaque.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ADMIN", "ANONYMOUS", "ISSUER", "Tokens", "UserInfo"]

ISSUER = "https://kubernetes.default.svc.cluster.local"
"""The issuer and default audience of service account tokens (kubeadm's and kind's)."""


@dataclass(frozen=True)
class UserInfo:
    """An authenticated user, as TokenReview and SelfSubjectReview report it."""

    username: str
    groups: tuple[str, ...]
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.username}
        if self.uid:
            out["uid"] = self.uid
        out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out

    @property
    def admin(self) -> bool:
        return "system:masters" in self.groups


ADMIN = UserInfo("k8spb-admin", ("system:masters", "system:authenticated"))
ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class _Issued:
    namespace: str
    account: str
    account_uid: str
    expires: float
    audiences: tuple[str, ...]
    jti: str
    bound: dict[str, str] | None


class Tokens:
    """The tokens a server issued (thread-safe)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._issued: dict[str, _Issued] = {}
        self._lock = threading.Lock()

    def issue(self, namespace: str, account: dict[str, Any], seconds: int, audiences: list[str],
              bound: dict[str, str] | None = None) -> tuple[str, float]:
        """A signed token for a service account: (token, expiry as a UNIX time)."""
        now = int(time.time())
        meta = account["metadata"]
        jti = str(uuid.uuid4())
        claims: dict[str, Any] = {"aud": audiences, "exp": now + seconds, "iat": now, "iss": ISSUER, "jti": jti}
        k8s: dict[str, Any] = {"namespace": namespace,
                               "serviceaccount": {"name": meta["name"], "uid": meta.get("uid", "")}}
        if bound:
            k8s[bound["kind"].lower()] = {"name": bound["name"], "uid": bound["uid"]}
        claims["kubernetes.io"] = k8s
        claims["nbf"] = now
        claims["sub"] = f"system:serviceaccount:{namespace}:{meta['name']}"
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        token = f"{head}.{body}.{signature}"
        with self._lock:
            self._issued[token] = _Issued(namespace, meta["name"], meta.get("uid", ""), now + seconds,
                                          tuple(audiences), jti, bound)
        return token, float(now + seconds)

    def user(self, token: str, account_uid: Any, audiences: tuple[str, ...] = ()) -> UserInfo | None:
        """The service account a token names, if the server issued it, it has not expired, its account
        (``account_uid(namespace, name)`` gives the live uid) is the one it was issued for and, when
        ``audiences`` are asked for, it was issued for one of them."""
        with self._lock:
            issued = self._issued.get(token)
        if issued is None or issued.expires <= time.time():
            return None
        head, _, rest = token.partition(".")
        body, _, signature = rest.partition(".")
        expected = _b64(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature, expected):
            return None
        if account_uid(issued.namespace, issued.account) != issued.account_uid:
            return None
        if audiences and not set(audiences) & set(issued.audiences):
            return None
        extra = {"authentication.kubernetes.io/credential-id": [f"JTI={issued.jti}"]}
        if issued.bound:
            kind = issued.bound["kind"].lower()
            extra[f"authentication.kubernetes.io/{kind}-name"] = [issued.bound["name"]]
            extra[f"authentication.kubernetes.io/{kind}-uid"] = [issued.bound["uid"]]
        return UserInfo(f"system:serviceaccount:{issued.namespace}:{issued.account}",
                        ("system:serviceaccounts", f"system:serviceaccounts:{issued.namespace}",
                         "system:authenticated"), issued.account_uid, extra)

    @staticmethod
    def claims(token: str) -> dict[str, Any]:
        """The claims of a token (unverified), for tests."""
        body: dict[str, Any] = json.loads(_unb64(token.split(".")[1]))
        return body
