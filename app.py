"""Ballast's Lambdas: the API server's routes and the event and schedule handlers, each handing off to chalicelib."""
import functools
from datetime import datetime, timezone

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from chalice import Chalice, ConvertToMiddleware, IAMAuthorizer, Rate, Response

from chalicelib import config, wiring
from chalicelib.control import api, loop, openapi
from chalicelib.photos import completions, images, ingest
from chalicelib.errors import BallastError, Conflict, NotFound, SpecError, Unavailable
from chalicelib.telemetry import logger

app = Chalice(app_name="ballast")
# Every handler, HTTP or event, logs with the Lambda context (request id, cold start) attached.
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context))


# ---- the API server (REST, IAM auth): each route hands off to chalicelib.control.api ---------------------------------
IAM = IAMAuthorizer()
JSON = ["application/json"]
MERGE_PATCH = ["application/merge-patch+json"]
ANY = ["*/*"]
EVERY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]
HTTP_STATUS = ((SpecError, 400), (NotFound, 404), (Conflict, 409), (Unavailable, 503))


def http_errors(view):
    """Domain errors → Kubernetes Status bodies; Chalice's own error classes could only say {Code, Message}."""
    @functools.wraps(view)
    def respond(*args, **kwargs):
        size = len(app.current_request.raw_body or b"")
        if size > config.MAX_BODY_BYTES:
            return _status(413, "RequestEntityTooLarge", f"the body has {size} bytes; the limit is {config.MAX_BODY_BYTES}")
        try:
            return view(*args, **kwargs)
        except BallastError as error:
            code = next((code for kind, code in HTTP_STATUS if isinstance(error, kind)), 500)
            return _status(code, error.reason, error.message, getattr(error, "field", None))
    return respond


@app.middleware("http")
def chalice_errors_as_status(event, get_response):
    """Chalice answers 405, 415 and unhandled errors itself as {Code, Message}: give users the same Status shape."""
    response = get_response(event)
    if response.status_code >= 400 and isinstance(response.body, dict) and set(response.body) == {"Code", "Message"}:
        return _status(response.status_code, response.body["Code"], response.body["Message"], headers=response.headers)
    return response


def _status(code, reason, message, field=None, headers=None):
    body = {"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": reason, "message": message, "code": code,
            "details": {"field": field} if field else {}}
    return Response(body=body, status_code=code, headers=headers)


def _request():
    """(store, namespace, query params, parsed JSON body) of the current request."""
    request = app.current_request
    query = request.query_params or {}
    return wiring.store(), api.namespace_of(query), query, api.parse_body(request.raw_body)


@app.route("/workloads", methods=["GET"], authorizer=IAM)
@http_errors
def list_workloads():
    store, namespace, query, _ = _request()
    return api.list_objects(store, "Workload", namespace, query)


@app.route("/workloads", methods=["POST"], authorizer=IAM, content_types=JSON)
@http_errors
def create_workload():
    store, namespace, query, body = _request()
    return Response(api.create(store, "Workload", namespace, body, api.is_dry_run(query)), status_code=201)


@app.route("/workloads/{name}", methods=["GET"], authorizer=IAM)
@http_errors
def get_workload(name):
    store, namespace, _, _ = _request()
    return api.get(store, "Workload", namespace, name)


@app.route("/workloads/{name}", methods=["PUT"], authorizer=IAM, content_types=JSON)
@http_errors
def replace_workload(name):
    store, namespace, query, body = _request()
    return api.replace(store, "Workload", namespace, name, body, api.is_dry_run(query))


@app.route("/workloads/{name}", methods=["PATCH"], authorizer=IAM, content_types=MERGE_PATCH)
@http_errors
def patch_workload(name):
    store, namespace, query, body = _request()
    return api.patch(store, "Workload", namespace, name, body, api.is_dry_run(query))


@app.route("/workloads/{name}", methods=["DELETE"], authorizer=IAM, content_types=JSON)
@http_errors
def delete_workload(name):
    store, namespace, query, body = _request()
    return api.delete(store, "Workload", namespace, name, query.get("resourceVersion"), body)


@app.route("/workloads/{name}/status", methods=["GET"], authorizer=IAM)
@http_errors
def get_workload_status(name):
    store, namespace, _, _ = _request()
    return api.get_status(store, namespace, name)


@app.route("/workloads/{name}/scale", methods=["GET"], authorizer=IAM)
@http_errors
def get_workload_scale(name):
    store, namespace, _, _ = _request()
    return api.get_scale(store, namespace, name)


@app.route("/workloads/{name}/scale", methods=["PUT"], authorizer=IAM, content_types=JSON)
@http_errors
def replace_workload_scale(name):
    store, namespace, _, body = _request()
    return api.replace_scale(store, namespace, name, body)


@app.route("/workloads/{name}/stats", methods=["GET"], authorizer=IAM)
@http_errors
def get_workload_stats(name):
    store, namespace, query, _ = _request()
    return api.get_stats(store, namespace, name, query, datetime.now(timezone.utc))


@app.route("/workloads/{name}/series", methods=["GET"], authorizer=IAM)
@http_errors
def get_workload_series(name):
    store, namespace, query, _ = _request()
    return api.get_series(store, namespace, name, query, datetime.now(timezone.utc))


@app.route("/nodepools", methods=["GET"], authorizer=IAM)
@http_errors
def list_nodepools():
    store, namespace, query, _ = _request()
    return api.list_objects(store, "NodePool", namespace, query)


@app.route("/nodepools", methods=["POST"], authorizer=IAM, content_types=JSON)
@http_errors
def create_nodepool():
    store, namespace, query, body = _request()
    return Response(api.create(store, "NodePool", namespace, body, api.is_dry_run(query)), status_code=201)


@app.route("/nodepools/{name}", methods=["GET"], authorizer=IAM)
@http_errors
def get_nodepool(name):
    store, namespace, _, _ = _request()
    return api.get(store, "NodePool", namespace, name)


@app.route("/nodepools/{name}", methods=["PUT"], authorizer=IAM, content_types=JSON)
@http_errors
def replace_nodepool(name):
    store, namespace, query, body = _request()
    return api.replace(store, "NodePool", namespace, name, body, api.is_dry_run(query))


@app.route("/nodepools/{name}", methods=["PATCH"], authorizer=IAM, content_types=MERGE_PATCH)
@http_errors
def patch_nodepool(name):
    store, namespace, query, body = _request()
    return api.patch(store, "NodePool", namespace, name, body, api.is_dry_run(query))


@app.route("/nodepools/{name}", methods=["DELETE"], authorizer=IAM, content_types=JSON)
@http_errors
def delete_nodepool(name):
    store, namespace, query, body = _request()
    return api.delete(store, "NodePool", namespace, name, query.get("resourceVersion"), body)


@app.route("/events", methods=["GET"], authorizer=IAM)
@http_errors
def list_events():
    store, namespace, query, _ = _request()
    return api.list_events(store, namespace, query)


@app.route("/openapi.json", methods=["GET"], authorizer=IAM)
@http_errors
def openapi_document():
    return openapi.document(app.routes)


# A path no route serves (a kind that does not exist) is a 404 Status, not API Gateway's 403 "Missing Authentication Token".
@app.route("/{resource}", methods=EVERY_METHOD, authorizer=IAM, content_types=ANY)
@http_errors
def unknown_resource(resource):
    api.unknown_resource(resource, list(app.routes))


@app.route("/{resource}/{name}", methods=EVERY_METHOD, authorizer=IAM, content_types=ANY)
@http_errors
def unknown_resource_item(resource, name):
    api.unknown_resource(resource, list(app.routes))


# ---- the photo pipeline: uploads become jobs, workers' completions and dead letters end them --------------------------
# One processor per function: each deployed function has its own, and the local runtime may run both at once.
completion_batches = BatchProcessor(event_type=EventType.SQS)
dead_letter_batches = BatchProcessor(event_type=EventType.SQS)


@app.on_s3_event(bucket=config.BUCKET, events=["s3:ObjectCreated:*"], prefix="input/")
def on_upload(event):
    # Every record (Chalice's S3Event shows only the first), and the request id Lambda keeps when it retries the event.
    ingest.ingest(event.to_dict(), event.context.aws_request_id)


on_upload.event_class = ingest.S3Notification  # Chalice's S3Event fails on an s3:TestEvent, which has no Records


@app.on_sqs_message(queue=config.COMPLETIONS_QUEUE, batch_size=10,
                    maximum_batching_window_in_seconds=config.COMPLETIONS_BATCHING_WINDOW_S)
def on_completion(event):  # ReportBatchItemFailures is added at deploy: see README.md, "Partial batch failures"
    batch = completions.Batch()
    response = process_partial_response(event=event.to_dict(), record_handler=batch.complete,
                                        processor=completion_batches, context=event.context)
    batch.flush()
    return response


@app.on_sqs_message(queue=config.DEAD_LETTER_QUEUE, batch_size=10)
def on_dead_letter(event):
    batch = completions.Batch()
    response = process_partial_response(event=event.to_dict(), record_handler=batch.dead_letter,
                                        processor=dead_letter_batches, context=event.context)
    batch.flush()
    return response


def _user():
    return images.user_of(app.current_request.context)


@app.route("/images", methods=["POST"], authorizer=IAM, content_types=JSON)
@http_errors
def upload_image():
    body = api.parse_body(app.current_request.raw_body)
    return Response(images.presign_upload(wiring.objects(), _user(), body), status_code=201)


@app.route("/images", methods=["GET"], authorizer=IAM)
@http_errors
def list_images():
    return images.list_images(wiring.store(), _user(), app.current_request.query_params or {})


@app.route("/images/{op}/{name}", methods=["GET"], authorizer=IAM)
@http_errors
def get_image(op, name):
    return images.get_image(wiring.store(), wiring.objects(), _user(), op, images.name_in_path(name))


@app.route("/images/{op}/{name}", methods=["DELETE"], authorizer=IAM)
@http_errors
def delete_image(op, name):
    return images.delete_image(wiring.store(), wiring.objects(), _user(), op, images.name_in_path(name))


@app.route("/jobs/{id}", methods=["GET"], authorizer=IAM)
@http_errors
def get_job(id):
    return images.get_job(wiring.store(), _user(), id)


# ---- the controller: every minute, and at once when ingest nudges it; it ticks every ~15 s while it holds the lease --
@app.schedule(Rate(1, unit=Rate.MINUTES))
def tick(event):
    loop.run(wiring.adapters(), time_left_ms=event.context.get_remaining_time_in_millis)


# Two at a time: a nudge arriving while another invocation runs the loop must get through at once to wake it.
@app.on_sqs_message(queue=config.NUDGE_QUEUE, batch_size=10, maximum_concurrency=2)
def on_nudge(event):
    loop.run(wiring.adapters(), time_left_ms=event.context.get_remaining_time_in_millis)
