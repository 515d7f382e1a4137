"""The image model: digests, descriptors, deterministic layers, manifests, an OCI layout store.

Plain data and functions; no network, no doit. Every blob is streamed, never held whole.
"""
