"""Create, scale and delete a Deployment with server-side apply (only the fields you set are claimed)."""

from k8spb import Api, Apply, Client, PatchParams
from k8spb.api.apps.v1 import Deployment, DeploymentSpec
from k8spb.api.core.v1 import Container, PodSpec, PodTemplateSpec
from k8spb.apimachinery.pkg.apis.meta.v1 import LabelSelector, ObjectMeta


def desired(replicas: int) -> Deployment:
    labels = {"app": "web"}
    return Deployment(
        metadata=ObjectMeta(name="web"),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(match_labels=labels),
            template=PodTemplateSpec(metadata=ObjectMeta(labels=labels),
                                     spec=PodSpec(containers=[Container(name="web", image="nginx:1.27")])),
        ),
    )


with Client.try_default() as client:
    deployments = Api.default_namespaced(client, Deployment)
    params = PatchParams(field_manager="example", force=True)
    created = deployments.patch("web", Apply(desired(2)), params)
    print("applied", created.metadata.name, "replicas", created.spec.replicas,
          "generation", created.metadata.generation)
    scaled = deployments.patch("web", Apply(desired(5)), params)
    print("scaled to", scaled.spec.replicas, "generation", scaled.metadata.generation)
    deployments.delete("web")
    print("deleted; still there:", deployments.get_opt("web") is not None)
