"""Publishing: image names, and sinks (registry, OCI layout, nothing) for built images."""
