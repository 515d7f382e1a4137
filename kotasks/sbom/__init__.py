"""Software bills of materials: the Go module graph of a binary as SPDX and CycloneDX, and the
cosign attachment that carries a document next to its image."""
