"""A typed custom resource from a Python class: class -> CRD -> apply -> typed Api.

Run against any cluster (KUBECONFIG), or as CI does, against k8spb.testing.ApiServer.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import field
from typing import Annotated

from k8spb import Api, Apply, Client, Merge, PatchParams
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition
from k8spb.apimachinery.pkg.apis.meta.v1 import Condition, ObjectMeta
from k8spb.crd import CustomResource, Maximum, Minimum, Object, PrinterColumn, Rule, Scale


class Tier(enum.StrEnum):
    FREE = "free"
    PRO = "pro"


class BackupSpec(Object, rules=[Rule("self.keep >= 1", message="keep at least one backup")]):
    """When and how many backups to take."""

    schedule: str = "@daily"
    """A cron schedule."""
    keep: Annotated[int, Maximum(30)] = 7


class DatabaseSpec(Object):
    """The database the user wants."""

    engine: str
    """postgres or mysql."""
    version: str = "16"
    replicas: Annotated[int, Minimum(1), Maximum(5)] = 1
    tier: Tier = Tier.FREE
    backup: BackupSpec = field(default_factory=BackupSpec)
    extensions: list[str] = field(default_factory=list)


class DatabaseStatus(Object):
    """What the operator observed."""

    replicas: int | None = None
    endpoint: str | None = None
    conditions: list[Condition] = field(default_factory=list)


class Database(CustomResource, group="examples.k8spb.dev", version="v1", short_names=("db",),
               categories=("all",), scale=Scale(),
               printer_columns=[PrinterColumn("Engine", ".spec.engine"),
                                PrinterColumn("Replicas", ".spec.replicas", "integer")]):
    """A managed database."""

    spec: DatabaseSpec
    status: DatabaseStatus | None = None


def main() -> None:
    with Client.try_default() as client:
        # 1. the CRD, derived from the classes (schema, defaults, CEL rules, printer columns, scale)
        crds = Api(client, CustomResourceDefinition)
        crds.patch(f"databases.{Database.group}", Apply(Database.crd()), PatchParams(field_manager="example"))
        print("applied CRD", f"databases.{Database.group}")

        # 2. objects, typed: server-side apply of what this program owns
        dbs = Api(client, Database, namespace="default")
        wanted = Database(metadata=ObjectMeta(name="orders"),
                          spec=DatabaseSpec(engine="postgres", replicas=2, extensions=["pgcrypto"]))
        db = dbs.patch("orders", Apply(wanted), PatchParams(field_manager="example", force=True))
        assert db.spec.replicas == 2 and db.spec.tier is Tier.FREE and db.spec.backup.keep == 7
        print("applied", db.metadata.name if db.metadata else "?", "engine", db.spec.engine)

        # 3. status, through the status subresource, as an operator writes it
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        status = DatabaseStatus(replicas=2, endpoint="orders.default.svc:5432",
                                conditions=[Condition(type="Ready", status="True", reason="Provisioned",
                                                      message="2 replicas up", last_transition_time=now)])
        db = dbs.patch_status("orders", Merge({"status": status.to_dict()}))
        print("ready:", db.condition_is_true("Ready"), "endpoint", db.status.endpoint if db.status else None)

        # 4. typed reads: list, get, watch
        for item in dbs.list():
            print("listed", item.metadata.name if item.metadata else "?", item.spec.engine, item.spec.replicas)
        for event in dbs.watch(resource_version="0", timeout_seconds=1):
            print("watched", event.type, event.object.spec.engine)
            break
        dbs.delete("orders")


if __name__ == "__main__":
    main()
