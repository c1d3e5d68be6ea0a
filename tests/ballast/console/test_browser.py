"""The console in headless Chromium against the local runtime: what each page shows is what the API returns, uploads
through the page become jobs the workers finish, and the user's levers and edits reach the API (or are refused there
with the field named and nothing written). Screenshots of each page go to out/console/."""
import base64
import copy
import io
import json
import re
import threading
from collections import Counter
from datetime import datetime, timezone

import boto3
import pytest
from PIL import Image
from playwright.sync_api import expect

from ballast import tables
from ballast.api_client import Api, ApiError
from ballast.console.server import Console
from tests.ballast.console.conftest import PHONE, eventually, screenshot

# chalice local cannot check IAM signatures and warns on every request; API Gateway checks them in AWS.
pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")
WIDGETS = "photos-widgets"  # a workload whose ECS service does not exist: the controller says so, scales nothing


def picture(kind: str, colour=(200, 40, 40), size=(96, 64)) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, colour)
    image.paste((240, 200, 60), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))  # something to see in a preview
    image.save(out, kind)
    return out.getvalue()


@pytest.fixture(scope="module")
def widgets(runtime):
    """Created through the API, as a user would; its FailedGetScale is the Warning the pages show. Its queue is one no
    photo operation works from, so the pipeline's stats stay with the photo workloads."""
    from chalicelib import config

    manifest = copy.deepcopy(runtime.api.get("/workloads/photos-thumbnail"))
    manifest = {"apiVersion": manifest["apiVersion"], "kind": "Workload",
                "metadata": {"name": WIDGETS, "labels": {"app": "widgets"}},
                "spec": {**manifest["spec"], "target": {**manifest["spec"]["target"], "service": "ballast-dev-widgets"},
                         "queue": {"name": config.DEAD_LETTER_QUEUE}}}
    runtime.api.post("/workloads", manifest)
    nudge()  # creating a workload does not wake the controller: the next minute's schedule would
    eventually(lambda: runtime.api.get(f"/workloads/{WIDGETS}")["status"].get("conditions"), timeout_s=20)
    return manifest


def nudge() -> None:
    from chalicelib import config

    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=config.NUDGE_QUEUE)["QueueUrl"],
                     MessageBody=json.dumps({"workload": WIDGETS, "namespace": "default", "reason": "created by a test"}))


def cells(page, name: str) -> list[str]:
    return [text.strip() for text in page.locator(f"tr[data-name='{name}'] > td").all_inner_texts()]


# ---- workloads, node pools, events -----------------------------------------------------------------------------------


def test_the_workloads_table_shows_what_the_api_returns(open_console, runtime, widgets):
    page = open_console("#/workloads")
    for item in runtime.api.get("/workloads")["items"]:
        name, spec = item["metadata"]["name"], item["spec"]

        def shown_as_the_api_has_it():
            status = runtime.api.get(f"/workloads/{name}")["status"]
            got = cells(page, name)
            return got and got[0].split("\n")[0] == name and f"/{spec['target']['service']}" in got[0] \
                and got[2:6] == [str(spec["minReplicas"]), str(spec["maxReplicas"]), str(status.get("desiredReplicas", "—")),
                                 str(status.get("currentReplicas", 0))]  # a target never read has no counts yet
        eventually(shown_as_the_api_has_it)
    able = page.locator(f"tr[data-name='{WIDGETS}'] [data-condition='AbleToScale']")
    expect(able).to_have_class(re.compile(r"\bbad\b"))
    expect(able).to_have_attribute("aria-label", re.compile(r"AbleToScale=False: FailedGetScale"))
    expect(page.locator("#freshness")).to_contain_text("updated")
    screenshot(page, "workloads")
    assert page.errors == []


def test_the_node_pools_page_shows_the_pools_nodes_and_decision(open_console, runtime):
    page = open_console("#/nodepools")
    [pool] = runtime.api.get("/nodepools")["items"]

    def shown():
        status = runtime.api.get("/nodepools/local")["status"]
        got = cells(page, "local")
        return got and got[3:8] == [str(status["desiredNodes"]), str(status["currentNodes"]), str(status["readyNodes"]),
                                    str(status["currentNodes"] - status["readyNodes"]), str(status["tasks"])] \
            and status["reason"] in got[9]
    eventually(shown)
    assert pool["spec"]["provider"]["autoScalingGroupName"] in cells(page, "local")[0]
    expect(page.get_by_role("region", name="Tasks by workload")).to_contain_text("photos-thumbnail")
    screenshot(page, "nodepools")


def test_the_event_stream_is_newest_first_and_filters_by_type_and_object(open_console, runtime, widgets):
    page = open_console("#/events")
    rows = page.get_by_role("region", name="Events, newest first").locator("tbody tr")

    def newest_first_as_the_api_has_them():
        newest = runtime.api.get("/events", limit="1")["items"][0]
        times = rows.locator("time").evaluate_all("ts => ts.map(t => t.getAttribute('datetime'))")
        return times and times[0] == newest["time"] and times == sorted(times, reverse=True)
    eventually(newest_first_as_the_api_has_them)
    page.get_by_label("Type").select_option("Warning")
    warnings = runtime.api.get("/events", type="Warning", limit="200")["items"]
    assert warnings and all(e["type"] == "Warning" for e in warnings)
    eventually(lambda: rows.count() and set(rows.locator("td:nth-child(2)").all_inner_texts()) == {"Warning"})
    expect(rows.first).to_contain_text(warnings[0]["reason"])
    page.get_by_label("Object").select_option(f"Workload/{WIDGETS}")
    eventually(lambda: rows.count() and set(rows.locator("td:nth-child(4)").all_inner_texts()) == {f"Workload/{WIDGETS}"})
    assert "object=Workload%2Fphotos-widgets" in page.url and "type=Warning" in page.url
    screenshot(page, "events")
    assert page.errors == []


# ---- levers and edits ------------------------------------------------------------------------------------------------


def test_pause_at_n_replicas_and_resume_autoscaling_from_the_workload_page(open_console, runtime, widgets):
    page = open_console(f"#/workloads/{WIDGETS}")
    hold = page.get_by_label("Hold at")
    hold.fill("9")  # above maxReplicas: the API refuses it, naming the field
    page.get_by_role("button", name="Pause autoscaling").click()
    expect(page.get_by_role("alert").filter(has_text="Refused")).to_contain_text("spec.replicas")
    assert runtime.api.get(f"/workloads/{WIDGETS}")["spec"].get("replicas") is None
    hold.fill("1")
    page.get_by_role("button", name="Pause autoscaling").click()
    expect(page.locator(".lever-state")).to_contain_text("Paused at 1 replicas")
    assert runtime.api.get(f"/workloads/{WIDGETS}/scale") ["spec"]["replicas"] == 1
    assert runtime.api.get(f"/workloads/{WIDGETS}")["spec"]["replicas"] == 1
    page.get_by_role("button", name="Resume autoscaling").click()
    expect(page.locator(".lever-state")).to_contain_text("Autoscaling")
    assert "replicas" not in runtime.api.get(f"/workloads/{WIDGETS}")["spec"]
    assert runtime.api.get(f"/workloads/{WIDGETS}/scale")["status"]["paused"] is False


def test_a_spec_edit_is_refused_at_its_field_or_as_stale_and_writes_nothing_until_it_is_right(open_console, runtime, widgets):
    page = open_console(f"#/workloads/{WIDGETS}")
    page.get_by_role("button", name="Edit spec (YAML)").click()
    editor = page.locator("#spec-yaml")
    expect(editor).to_have_value(re.compile(r"maxReplicas: 4"))
    before = runtime.api.get(f"/workloads/{WIDGETS}")["metadata"]["generation"]
    text = editor.input_value()

    editor.fill(text.replace("maxReplicas: 4", "maxReplicas: -1"))
    page.get_by_role("button", name="Save").click()
    message = page.locator("#spec-message")
    line = 1 + text.split("\n").index(next(l for l in text.split("\n") if l.strip() == "maxReplicas: 4"))
    expect(message).to_contain_text(f"spec.maxReplicas (line {line})")
    expect(message).to_contain_text("Nothing was written")
    expect(page.locator(".gutter span.error")).to_have_text(str(line))
    screenshot(page, "workload-edit-refused")

    editor.fill(text.replace("maxReplicas: 4", "maxReplicas: [4"))
    page.get_by_role("button", name="Save").click()
    expect(message).to_contain_text("Line ")
    expect(message).to_contain_text("not valid YAML")
    # Nothing written: the spec is as it was (the resourceVersion moves with every status the controller writes).
    assert runtime.api.get(f"/workloads/{WIDGETS}")["metadata"]["generation"] == before

    runtime.api.patch(f"/workloads/{WIDGETS}", {"metadata": {"labels": {"app": "widgets", "edited": "elsewhere"}}})
    editor.fill(text.replace("maxReplicas: 4", "maxReplicas: 3"))
    page.get_by_role("button", name="Save").click()
    expect(message).to_contain_text("changed since you loaded them")
    assert runtime.api.get(f"/workloads/{WIDGETS}")["spec"]["maxReplicas"] == 4

    page.get_by_role("button", name="Reload", exact=True).click()
    expect(editor).to_have_value(re.compile(r"edited: elsewhere"))
    editor.fill(editor.input_value().replace("maxReplicas: 4", "maxReplicas: 3"))
    page.get_by_role("button", name="Save").click()
    expect(message).to_contain_text("Saved")
    assert runtime.api.get(f"/workloads/{WIDGETS}")["spec"]["maxReplicas"] == 3
    assert page.errors == []


# ---- photos ------------------------------------------------------------------------------------------------------------

GOOD = {"beach.jpg": ("image/jpeg", picture("JPEG")), "harbour.png": ("image/png", picture("PNG", (20, 90, 160), (640, 400)))}
REFUSED = {"notes.txt": ("text/plain", b"not a picture", "contentType"), "empty.jpg": ("image/jpeg", b"", "size"),
           "bad..name.jpg": ("image/jpeg", picture("JPEG"), "name")}
BROKEN = {"truncated.jpg": ("image/jpeg", picture("JPEG")[:200])}  # granted, uploaded, failed by the worker


def drop(page, files: dict, zeros: dict | None = None) -> None:
    """A real drop event on the drop zone, carrying File objects as the browser builds them from a drag; `zeros` are
    files of that many zero bytes made in the page (a file over the limit need not cross the wire to the browser)."""
    payload = [{"name": name, "type": kind, "data": base64.b64encode(data).decode()} for name, (kind, data) in files.items()]
    payload += [{"name": name, "type": "image/jpeg", "zeros": size} for name, size in (zeros or {}).items()]
    transfer = page.evaluate_handle("""(files) => {
        const transfer = new DataTransfer();
        for (const f of files) {
            const bytes = f.zeros ? new Uint8Array(f.zeros) : Uint8Array.from(atob(f.data), c => c.charCodeAt(0));
            transfer.items.add(new File([bytes], f.name, {type: f.type}));
        }
        return transfer;
    }""", payload)
    page.dispatch_event("[data-testid=dropzone]", "drop", {"dataTransfer": transfer})


def test_uploads_through_the_page_become_jobs_whose_phases_and_replicas_change_live(open_console, runtime):
    page = open_console("#/photos")
    watcher = open_console("#/workloads/photos-thumbnail")
    page.get_by_label("Operation").select_option("thumbnail")
    chosen = {**{k: v for k, v in GOOD.items() if k == "beach.jpg"}, **REFUSED, **BROKEN}
    page.locator("#upload-files").set_input_files([{"name": n, "mimeType": t, "buffer": d} for n, (t, d, *_) in chosen.items()])
    # A second batch, dropped while the first runs, with a file one byte over the images API's 50 MiB.
    drop(page, {"harbour.png": GOOD["harbour.png"]}, zeros={"huge.jpg": 50 * 1024 * 1024 + 1})

    for name, (_, _, field) in {**REFUSED, "huge.jpg": (None, None, "size: must be an integer from 1 to 52428800")}.items():
        expect(page.locator(f".file[data-name='{name}']")).to_contain_text(field)
        expect(page.locator(f".file[data-name='{name}']")).to_contain_text("Refused")

    # The controller scales the thumbnail workload up for the work: the workload page shows it as the API has it.
    desired = watcher.locator(".card").filter(has_text="Desired").locator(".card-value")
    eventually(lambda: desired.inner_text() not in ("—", "0"), timeout_s=20)
    eventually(lambda: desired.inner_text() == str(runtime.api.get("/workloads/photos-thumbnail")["status"]["desiredReplicas"]))

    rows = page.get_by_role("region", name="Your images").locator("tbody tr")
    phase = lambda name: rows.filter(has_text=name).locator("td:nth-child(3)").inner_text()  # noqa: E731
    eventually(lambda: phase("harbour.png") == "Done" and phase("truncated.jpg") == "Failed", timeout_s=30)
    summary = lambda name: page.locator(".batch").filter(has_text=name).locator("[data-testid=batch-summary]")  # noqa: E731
    expect(summary("harbour.png")).to_have_text("1 done · 0 failed · 0 processing · 0 queued · 0 uploading · 1 refused, out of 2")
    eventually(lambda: phase("beach.jpg") == "Done", timeout_s=30)
    expect(summary("beach.jpg")).to_have_text("1 done · 1 failed · 0 processing · 0 queued · 0 uploading · 3 refused, out of 5")
    api_images = {i["name"]: i for i in runtime.api.get("/images")["items"]}
    for name in ("beach.jpg", "harbour.png", "truncated.jpg"):
        assert phase(name) == api_images[name]["phase"]
    reason = rows.filter(has_text="truncated.jpg").locator("td:nth-child(4)").inner_text()
    assert reason and reason == runtime.api.get("/images/thumbnail/truncated.jpg")["reason"]
    assert not {"notes.txt", "empty.jpg", "bad..name.jpg", "huge.jpg"} & {i["name"] for i in runtime.api.get("/images")["items"]}
    running = watcher.locator(".card").filter(has_text="Running").locator(".card-value")
    eventually(lambda: running.inner_text() == str(runtime.api.get("/workloads/photos-thumbnail")["status"]["currentReplicas"]))
    screenshot(page, "photos")
    screenshot(watcher, "workload")
    assert page.errors == [] and watcher.errors == []


def test_an_operation_chosen_before_the_pipelines_list_arrives_stays_chosen(open_console, live):
    """The page lists the operations from the workloads' op labels; a user quicker than that answer keeps the choice."""
    page = open_console("#/workloads")
    held = []
    page.route(lambda url: "/api/workloads?" in url and "labelSelector=app%3Dphotos" in url, lambda route: held.append(route))
    page.goto(f"http://127.0.0.1:{live.port}/#/photos")
    eventually(lambda: held or page.wait_for_timeout(100), timeout_s=10)  # Playwright calls handlers while it waits
    chooser = page.get_by_label("Operation")
    chooser.select_option("watermark")
    chooser.evaluate("select => { window.optionsBefore = [...select.options]; }")
    held[0].continue_()
    page.wait_for_function("() => !window.optionsBefore.includes(document.getElementById('upload-op').options[0])")
    assert chooser.locator("option").all_inner_texts() == ["grayscale", "thumbnail", "watermark"]
    expect(chooser).to_have_value("watermark")


def test_a_job_a_worker_holds_shows_processing_until_its_completion_ends_it(open_console, runtime, monkeypatch):
    """The watermark workload held at 0 replicas, so the one worker is this test's, in this process, against the
    runtime's queues: it holds the image in its transform until the page has shown the job Processing."""
    from chalicelib import config
    from workers import ops, worker
    from workers.settings import Settings

    runtime.api.put("/workloads/photos-watermark/scale", {"spec": {"replicas": 0}})
    transforming, release, stop = threading.Event(), threading.Event(), threading.Event()
    held_worker = None
    real_apply = ops.apply

    def held(*args, **kwargs):
        transforming.set()
        release.wait(30)
        return real_apply(*args, **kwargs)
    monkeypatch.setattr(ops, "apply", held)
    try:
        page = open_console("#/photos")
        page.get_by_label("Operation").select_option("watermark")
        page.locator("#upload-files").set_input_files([{"name": "lighthouse.jpg", "mimeType": "image/jpeg",
                                                        "buffer": picture("JPEG", (30, 120, 60))}])
        rows = page.get_by_role("region", name="Your images").locator("tbody tr")
        phase = rows.filter(has_text="lighthouse.jpg").locator("td:nth-child(3)")
        expect(phase).to_have_text("Queued", timeout=20_000)
        settings = Settings("watermark", runtime.queue_urls[config.work_queue("watermark")],
                            runtime.queue_urls[config.COMPLETIONS_QUEUE], config.BUCKET, poll_wait_s=1,
                            worker_id="held-worker")
        held_worker = threading.Thread(target=worker.run, args=(settings, stop), daemon=True)
        held_worker.start()
        assert transforming.wait(20)
        expect(phase).to_have_text("Processing")
        summary = page.locator(".batch").filter(has_text="lighthouse.jpg").locator("[data-testid=batch-summary]")
        expect(summary).to_have_text("0 done · 0 failed · 1 processing · 0 queued · 0 uploading · 0 refused, out of 1")
        shown = runtime.api.get("/images/watermark/lighthouse.jpg")
        assert (shown["phase"], shown["startedAt"] is not None) == ("Processing", True)
        screenshot(page, "photos-processing")
        release.set()
        expect(phase).to_have_text("Done", timeout=20_000)
        assert runtime.api.get("/images/watermark/lighthouse.jpg")["phase"] == "Done"
    finally:
        release.set()
        stop.set()
        if held_worker:
            held_worker.join(20)
        runtime.api.patch("/workloads/photos-watermark", {"spec": {"replicas": None}})
    assert page.errors == []


def test_a_done_image_previews_original_and_result_downloads_and_deletes(open_console, runtime):
    page = open_console("#/photos")
    rows = page.get_by_role("region", name="Your images").locator("tbody tr")
    eventually(lambda: rows.filter(has_text="harbour.png").count() == 1)
    rows.filter(has_text="harbour.png").get_by_role("button", name="harbour.png", exact=True).click()
    dialog = page.get_by_role("dialog")
    for label in ("Original", "Result"):
        picture_of = dialog.get_by_role("img", name=f"{label} of harbour.png")
        eventually(lambda: picture_of.evaluate("img => img.complete && img.naturalWidth > 0"))
    sizes = dialog.get_by_role("img").evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
    assert sizes == [[640, 400], [256, 160]]  # the thumbnail of the original, in the 256-pixel box
    download = dialog.get_by_role("link", name="Download result")
    assert "response-content-disposition=attachment" in download.get_attribute("href")
    screenshot(page, "photo-preview")
    dialog.get_by_role("button", name="Close").click()

    rows.filter(has_text="harbour.png").get_by_role("button", name="Delete harbour.png").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    eventually(lambda: rows.filter(has_text="harbour.png").count() == 0)
    with pytest.raises(ApiError) as gone:
        runtime.api.get("/images/thumbnail/harbour.png")
    assert gone.value.code == 404
    assert page.errors == []


def test_the_workload_chart_draws_the_last_hour_the_series_holds(open_console, runtime):
    page = open_console("#/workloads/photos-thumbnail")
    series = runtime.api.get("/workloads/photos-thumbnail/series")
    assert max(p["desired"] for p in series["replicas"]) >= 1
    page.get_by_label("Window").select_option("5m")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(2)
    window_s = lambda: (datetime.now(timezone.utc) - datetime.fromisoformat(  # noqa: E731
        page.locator(".chart-figure").first.get_attribute("data-since").replace("Z", "+00:00"))).total_seconds()
    eventually(lambda: 290 <= window_s() <= 330)  # the window asked for, not the 15 minutes the page opened with
    expect(charts.nth(1)).to_have_attribute("aria-label", re.compile(r"Desired replicas peak [1-9]"))
    finished = [m for m in series["stats"] if m.get("done") or m.get("failed")]
    assert finished  # the batch's completions, counted per minute
    expect(charts.nth(0).locator("rect.bar")).to_have_count(len(finished))
    [first, *_] = [e for e in series["scaleEvents"] if e["reason"] == "SuccessfulRescale"]
    decisions = page.get_by_role("region", name="Scale decisions of photos-thumbnail")
    expect(decisions).to_contain_text(f"{first['data']['from']} → {first['data']['to']}{first['data']['reason']}")
    width = charts.nth(1).evaluate("chart => chart.getBoundingClientRect().width")
    charts.nth(1).hover(position={"x": width - 20, "y": 90})  # the pointer over the last seconds
    expect(page.locator(".chart-tip").nth(1)).to_contain_text("Desired replicas: ")
    screenshot(page, "workload-after-the-batch")


# ---- connection, credentials, layout, keyboard -----------------------------------------------------------------------


def test_each_table_asks_at_most_every_two_seconds_and_nothing_while_the_tab_is_hidden(open_console):
    page = open_console("#/workloads")
    expect(page.locator("tr[data-name='photos-thumbnail']")).to_be_visible()
    asked = []
    page.on("request", lambda request: "/api/" in request.url and asked.append(request.url.split("/api/", 1)[1].split("?")[0]))

    def asked_while(wait_ms: int, then=lambda: None) -> Counter:
        asked.clear()
        then()
        page.wait_for_timeout(wait_ms)
        return Counter(asked)

    live = asked_while(5000)
    assert live["workloads"] >= 2 and max(live.values()) <= 3, live  # 5 s at one request per 2 s after the answer
    set_hidden = "hidden => { Object.defineProperty(document, 'hidden', {value: hidden, configurable: true}); " \
                 "document.dispatchEvent(new Event('visibilitychange')); }"
    page.evaluate(set_hidden, True)
    page.wait_for_timeout(500)  # a request already out when the tab was hidden is answered
    assert asked_while(4000) == Counter()
    # Visible again: it asks at once, not at the next turn.
    assert asked_while(1000, then=lambda: page.evaluate(set_hidden, False))["workloads"] == 1
    assert page.errors == []


def test_an_unreachable_api_shows_a_banner_and_the_page_recovers_by_itself(open_console, runtime):
    cut_off = Console(Api("http://127.0.0.1:9", "us-east-1")).start()
    try:
        page = open_console("#/workloads", at=cut_off)
        banner = page.get_by_role("alert").filter(has_text="Connection lost")
        expect(banner).to_contain_text("unreachable")
        expect(page.locator("#freshness")).not_to_contain_text("Live")
        assert page.evaluate(LOW_CONTRAST) == []  # the banner and the stale mark are read too
        screenshot(page, "api-unreachable")
        cut_off.api = Api(runtime.api_url, "us-east-1")  # the API comes back
        expect(banner).to_be_hidden(timeout=10000)
        expect(page.locator("tr[data-name='photos-thumbnail']")).to_be_visible()
    finally:
        cut_off.stop()


def test_refused_credentials_say_how_to_renew_them(open_console, runtime, monkeypatch):
    expired = Console(Api(runtime.api_url, "us-east-1")).start()

    def refuse(method, path, data=None, query=None, content_type="application/json"):
        return 403, json.dumps({"message": "The security token included in the request is expired"}).encode()
    monkeypatch.setattr(expired.api, "exchange", refuse)  # API Gateway's answer to an expired session
    try:
        page = open_console("#/workloads", at=expired)
        banner = page.get_by_role("alert").filter(has_text="Not authorized")
        expect(banner).to_contain_text("The security token included in the request is expired")
        expect(banner).to_contain_text("aws sso login")
        assert page.evaluate(LOW_CONTRAST) == []
        screenshot(page, "credentials-refused")
    finally:
        expired.stop()


def test_at_phone_width_nothing_overflows_and_the_keyboard_reaches_every_section(open_console):
    page = open_console("#/workloads", viewport=PHONE)
    card = page.locator("tr[data-name='photos-thumbnail']")
    expect(card).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Rows become cards whose cells name their column; the desired count is on screen, not behind a scroll.
    desired = card.locator("td[data-label='Desired']")
    expect(desired).to_be_in_viewport()
    screenshot(page, "phone-workloads")
    page.goto(page.url.split("#")[0] + "#/photos")
    expect(page.get_by_role("button", name="Choose photos…")).to_be_visible()
    expect(page.get_by_role("region", name="Your images").locator("tbody tr").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "phone-photos")

    for _ in range(12):  # from the top of the page, Tab until the Events link has focus, then Enter
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Events":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Events", level=1)).to_be_focused()
    unlabelled = page.evaluate("""[...document.querySelectorAll('input, select, textarea, button')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).length""")
    assert unlabelled == 0
    assert page.errors == []


# WCAG 2.1's contrast ratio of every visible piece of text against the first opaque background behind it: 4.5:1, or
# 3:1 for large text (24 px, or 18.66 px bold). Colours are read as the browser computed them, so the state classes
# (badges, banners, phases; disabled controls excepted, as WCAG does) are what is measured.
LOW_CONTRAST = """() => {
  const rgb = (css) => (css.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const [r, g, b, a = 1] = rgb(getComputedStyle(e).backgroundColor);
      if (a >= 0.99) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || !element.checkVisibility() || element.closest("[disabled], .visually-hidden")) continue;
    const style = getComputedStyle(element);
    const [l1, l2] = [luminance(rgb(style.color)), luminance(background(element))].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) failures.push(`${node.textContent.trim().slice(0, 30)}: ${ratio.toFixed(2)} < ${needed}`);
  }
  return [...new Set(failures)];
}"""


@pytest.mark.parametrize("path", ["#/workloads", "#/workloads/photos-thumbnail", "#/nodepools", "#/events", "#/photos"])
def test_every_text_on_each_page_has_the_contrast_wcag_aa_asks(open_console, path):
    page = open_console(path)
    expect(page.locator("main h1")).to_be_visible()
    page.wait_for_timeout(1500)  # the tables' first answers, with their badges
    assert page.evaluate(LOW_CONTRAST) == []


def test_the_page_summarises_every_metric_type_as_get_workloads_does(open_console):
    from tests.ballast.test_tables import METRICS

    page = open_console("#/workloads")
    spec = {"metrics": [metric for metric, _, _ in METRICS]}
    for status in ({"currentMetrics": [current for _, current, _ in METRICS]}, {}):
        shown = page.evaluate("async ([spec, status]) => (await import('/static/format.js')).metricSummaries(spec, status)",
                              [spec, status])
        assert shown == tables.metric_summaries(spec, status)
    assert page.errors == []
