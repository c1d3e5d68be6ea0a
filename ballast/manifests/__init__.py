"""Manifests for `apply`, `diff` and `get -o hpa|scaledobject`: Ballast's own, and the HPAs and ScaledObjects users bring."""
