"""Go builds: find the toolchain, list packages, build binaries, and turn them into layers."""
