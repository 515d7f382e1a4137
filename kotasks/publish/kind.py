"""Load images into the nodes of a kind cluster (``KO_DOCKER_REPO=kind.local…``), as ko.

The nodes are the containers labelled ``io.x-k8s.kind.cluster=$KIND_CLUSTER_NAME`` (default
``kind``), its load balancer excluded. Into each node that lacks the image, a docker archive
streamed out of the store goes to ``ctr --namespace=k8s.io images import --all-platforms -``;
then each tag is pointed at it with ``ctr images tag --force``. A node that already has the
digest tag gets no archive (kind and ko import into every node on every run).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kotasks.baseimage import BaseRecord
from kotasks.errors import DaemonError
from kotasks.oci.descriptor import Descriptor
from kotasks.oci.dockerarchive import docker_archive
from kotasks.oci.layout import Layout
from kotasks.publish.daemon import local_image, shown_as_sent
from kotasks.publish.dockerprobe import CTR_IMAGES, KIND_CLUSTER_LABEL, parse_ctr_images
from kotasks.publish.target import PublishTarget

log = logging.getLogger("kotasks")


def publish_kind(target: PublishTarget, store: Layout, root: Descriptor, import_path: str,
                 base: BaseRecord | None) -> dict[str, object]:
    """Import the image into every node that lacks it; point each tag at it."""
    from kotasks.publish.dockerengine import Engine

    local, archive = local_image(target, store, root, import_path, base)
    engine = Engine(target.environ)
    cluster = target.kind_cluster
    nodes = engine.kind_nodes(cluster)
    if not nodes:
        raise DaemonError(engine.endpoint, f"load {local.digest_tag} into kind cluster "
                          f"{cluster!r}", f"the cluster has no nodes (no container labelled "
                          f"{KIND_CLUSTER_LABEL}={cluster}; is KIND_CLUSTER_NAME right?)")

    def ctr(node: str, *args: str, stdin: Iterable[bytes] | None = None) -> str:
        code, output = engine.execute(node, [*CTR_IMAGES, *args], stdin)
        if code != 0:
            raise DaemonError(engine.endpoint, f"ctr images {args[0]} in kind node {node}",
                              output.strip().splitlines()[-1] if output.strip()
                              else f"exit status {code}")
        return output

    for node in nodes:
        images = parse_ctr_images(ctr(node, "ls"))
        if local.digest_tag not in images:
            log.info("Loading %s into %s", local.digest_tag, node)
            ctr(node, "import", "--all-platforms", "-",
                stdin=shown_as_sent(docker_archive(store, [archive]), archive))
            log.info("Loaded %s into %s", local.digest_tag, node)
        target_digest = images.get(local.digest_tag)
        for name in local.names[1:]:
            if target_digest is None or images.get(name) != target_digest:
                log.info("Adding tag %s in %s", name.rsplit(":", 1)[1], node)
                ctr(node, "tag", "--force", local.digest_tag, name)
    return local.values()
