"""Client side of `scripts/otlp-receiver selftest`: python3 otlp_receiver_selftest.py URL DIR.

Sends hand-written OTLP/JSON export requests (shaped like the OTLP spec's
examples/trace.json, ids in lower-case hex as mgitd writes them) to a running
receiver and checks its replies and the files it wrote in DIR. Standard library
only, so it checks the receiver from the outside, as mgitd's exporter would.
"""

import copy
import gzip
import json
import os
import sys
import urllib.error
import urllib.request

TRACE_ID = "5b8efff798038103d269b633813fc60c"
ROOT_ID = "eee19b7ec3c1b174"
CHILD_ID = "eee19b7ec3c1b175"
INTAKE_PARENT = "eee19b7ec3c1b173"

VALID = {
    "resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "mgitd"}},
        ]},
        "scopeSpans": [{
            "scope": {"name": "mgitd", "version": "1.0.0"},
            "spans": [
                {
                    "traceId": TRACE_ID,
                    "spanId": ROOT_ID,
                    "parentSpanId": INTAKE_PARENT,
                    "name": "mgitd.job",
                    # OTLP/JSON: enums as integers, 64-bit integers as strings.
                    "kind": 5,
                    "startTimeUnixNano": "1544712660000000000",
                    "endTimeUnixNano": "1544712661000000000",
                    "attributes": [
                        {"key": "messaging.destination.name", "value": {"stringValue": "jobs"}},
                        {"key": "messaging.kafka.offset", "value": {"intValue": "42"}},
                        {"key": "messaging.destination.partition.id",
                         "value": {"stringValue": "0"}},
                        {"key": "mgitd.retried", "value": {"boolValue": True}},
                        {"key": "mgitd.queue_seconds", "value": {"doubleValue": 0.25}},
                    ],
                    "status": {"code": 1},
                },
                {
                    "traceId": TRACE_ID,
                    "spanId": CHILD_ID,
                    "parentSpanId": ROOT_ID,
                    "name": "kafka.produce",
                    "kind": 4,
                    "startTimeUnixNano": 1544712660500000000,
                    "endTimeUnixNano": "1544712660600000000",
                    "status": {"code": 2, "message": "broker down"},
                },
            ],
        }],
    }],
}

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"selftest: FAILED: {what}", file=sys.stderr)


def post(url, payload, headers=None, method="POST", raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method)
    request.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def with_span(**changes):
    payload = copy.deepcopy(VALID)
    span = payload["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for k, v in changes.items():
        if v is None:
            del span[k]
        else:
            span[k] = v
    return payload


def read_lines(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def main():
    url, directory = sys.argv[1], sys.argv[2]

    status, body = post(url, VALID)
    check(status == 200, f"valid request: HTTP {status} {body[:200]!r}")
    check(json.loads(body or b"null") == {}, f"valid request: reply {body[:200]!r}, want {{}}")
    spans = [json.loads(line) for line in read_lines(directory, "spans.jsonl")]
    check(len(spans) == 2, f"{len(spans)} lines in spans.jsonl after the valid request, want 2")
    if len(spans) == 2:
        root, child = spans
        want_root = {
            "trace_id": TRACE_ID, "span_id": ROOT_ID, "parent_span_id": INTAKE_PARENT,
            "name": "mgitd.job", "kind": "SPAN_KIND_CONSUMER",
            "start_time_unix_nano": 1544712660000000000,
            "end_time_unix_nano": 1544712661000000000,
            "attributes": {"messaging.destination.name": "jobs", "messaging.kafka.offset": 42,
                           "messaging.destination.partition.id": "0", "mgitd.retried": True,
                           "mgitd.queue_seconds": 0.25},
            "status": {"code": "STATUS_CODE_OK", "message": ""},
            "resource_attributes": {"service.name": "mgitd"},
            "scope_name": "mgitd",
        }
        for k, v in want_root.items():
            check(root.get(k) == v, f"root span {k}: {root.get(k)!r}, want {v!r}")
        check(type(root["attributes"].get("messaging.kafka.offset")) is int,
              "intValue attribute did not come back as an int")
        want_child = {"trace_id": TRACE_ID, "span_id": CHILD_ID, "parent_span_id": ROOT_ID,
                      "kind": "SPAN_KIND_PRODUCER", "attributes": {},
                      "start_time_unix_nano": 1544712660500000000,
                      "status": {"code": "STATUS_CODE_ERROR", "message": "broker down"}}
        for k, v in want_child.items():
            check(child.get(k) == v, f"child span {k}: {child.get(k)!r}, want {v!r}")

    # A root span (no parentSpanId) in a gzip body, as collectors also accept.
    rooted = with_span(parentSpanId=None, spanId="0123456789abcdef")
    status, body = post(url, None, raw=gzip.compress(json.dumps(rooted).encode()),
                        headers={"Content-Encoding": "gzip"})
    check(status == 200, f"gzip request: HTTP {status} {body[:200]!r}")
    spans = [json.loads(line) for line in read_lines(directory, "spans.jsonl")]
    check(len(spans) == 4, f"{len(spans)} lines in spans.jsonl after the gzip request, want 4")
    if len(spans) == 4:
        check(spans[2]["parent_span_id"] == "", f"root span parent {spans[2]['parent_span_id']!r}")
        check(spans[2]["span_id"] == "0123456789abcdef", f"gzip span id {spans[2]['span_id']!r}")

    # Each must be refused whole: nothing more in spans.jsonl afterwards.
    bad = {
        # Generic protobuf JSON (base64) instead of OTLP/JSON hex: 16 bytes, but wrong form.
        "base64 trace id": with_span(traceId="W47/95gDgQPSabYzgT/GDA=="),
        "15-byte trace id": with_span(traceId=TRACE_ID[:30]),
        "upper-case hex span id": with_span(spanId=ROOT_ID.upper()),
        "7-byte parent span id": with_span(parentSpanId=ROOT_ID[:14]),
        "all-zero trace id": with_span(traceId="0" * 32),
        "missing span id": with_span(spanId=None),
        "unknown span field": with_span(spanName="x"),
        "duplicate attribute key": with_span(attributes=[
            {"key": "a", "value": {"intValue": "1"}}, {"key": "a", "value": {"intValue": "2"}}]),
    }
    for what, payload in bad.items():
        status, body = post(url, payload)
        check(status == 400, f"{what}: HTTP {status}, want 400 ({body[:200]!r})")
    status, _ = post(url, None, raw=b"{not json")
    check(status == 400, f"malformed JSON: HTTP {status}, want 400")
    status, _ = post(url.rsplit("/", 2)[0] + "/v1/metrics", VALID)
    check(status == 404, f"POST /v1/metrics: HTTP {status}, want 404")
    status, _ = post(url, None, method="GET")
    check(status == 405, f"GET /v1/traces: HTTP {status}, want 405")

    spans = read_lines(directory, "spans.jsonl")
    check(len(spans) == 4, f"{len(spans)} lines in spans.jsonl after the rejected requests, want 4")
    requests = read_lines(directory, "requests.log")
    want_requests = ["200 2", "200 2"] + ["400 0"] * (len(bad) + 1) + ["404 0", "405 0"]
    check(requests == want_requests, f"requests.log {requests}, want {want_requests}")
    errors = read_lines(directory, "errors.log")
    check(len(errors) == len(bad) + 3, f"{len(errors)} lines in errors.log, want {len(bad) + 3}")
    check(any("spans[0].traceId" in line for line in errors),
          "errors.log does not name the bad traceId's place")

    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
