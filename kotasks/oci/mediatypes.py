"""Media types of the OCI image spec and of Docker's schema 2."""

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

IMAGE_MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
#: what a client must list in Accept to get any image or index back unconverted
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))


def is_index(media_type: str) -> bool:
    """Whether ``media_type`` names an image index or a Docker manifest list."""
    return media_type in INDEXES


def layer_type_for(manifest_type: str) -> str:
    """The gzip layer media type that matches a manifest media type (ko never converts)."""
    return DOCKER_LAYER_GZIP if manifest_type == DOCKER_MANIFEST else OCI_LAYER_GZIP
