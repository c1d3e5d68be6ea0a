"""Which translation a manifest takes: Ballast's own kinds as they are, HPAs and ScaledObjects into Workloads."""
from __future__ import annotations

from ballast.manifests import hpa, kubernetes, scaledobject
from ballast.manifests.documents import Document
from ballast.manifests.findings import Translation
from ballast.manifests.kubernetes import Context

OWN_KINDS = ("Workload", "NodePool")
FOREIGN = {hpa.KIND: hpa, scaledobject.KIND: scaledobject}
SERVED = {**{kind: (kubernetes.API_VERSION,) for kind in OWN_KINDS}, hpa.KIND: hpa.VERSIONS, scaledobject.KIND: scaledobject.VERSIONS}


def translate(document: Document, context: Context) -> Translation:
    """The manifest to send, with what was found on the way; a wrong kind or apiVersion is an `invalid` finding."""
    body = document.body
    kind, version = body.get("kind"), body.get("apiVersion")
    name = (body.get("metadata") or {}).get("name") if isinstance(body.get("metadata"), dict) else None
    translation = Translation(f"{kind}/{name}", body)
    if kind not in SERVED:
        kinds = "; ".join(f"{k} ({', '.join(v)})" for k, v in SERVED.items())
        translation.invalid("kind", f"{kind!r} is not a kind ballast applies: {kinds}")
        return translation
    if version is None and kind in OWN_KINDS:
        version = kubernetes.API_VERSION  # the API defaults it, as it always has
    if version not in SERVED[kind]:
        hint = " (autoscaling/v2beta1 metrics differ: `kubectl convert` it to v2)" if version == "autoscaling/v2beta1" else ""
        translation.invalid("apiVersion", f"{kind} is served as {' or '.join(SERVED[kind])}, not {version!r}{hint}")
        return translation
    if kind in OWN_KINDS:
        if not name:
            translation.invalid("metadata.name", "is required: the object is created and found by its name")
        return translation
    return FOREIGN[kind].to_workload({**body, "apiVersion": version}, context)
