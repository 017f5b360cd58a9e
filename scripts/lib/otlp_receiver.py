"""OTLP/HTTP (JSON) trace receiver for mgitd's tests; started by scripts/otlp-receiver.

Every export request is decoded by the official OTLP protobuf definitions
(opentelemetry-proto) through google.protobuf.json_format, so a test's span
assertions rest on a real OTLP parser rather than on string matching.

OTLP/JSON differs from generic protobuf JSON in one place: trace and span ids
are hex strings, where ParseDict expects base64 for `bytes` fields. Hex happens
to be valid base64 too, so feeding the ids through unchanged would "parse" into
ids of the wrong length instead of failing; they are therefore validated and
converted to base64 first. This receiver is deliberately stricter than a
collector (tests are its only users): ids must be lower-case hex as the mgitd
spec says (the OTLP spec also allows upper case), unknown fields, all-zero ids
and duplicate attribute keys are rejected.

Files in DIR (each line is written before the reply is sent, so once the
exporter has its 200 the spans are on disk):
  spans.jsonl   one JSON object per accepted span; a request's spans in one write
  requests.log  "STATUS SPANS" per request, written after that request's spans
  errors.log    one line per rejected request, with the reason
  port          the bound port (written once the server answers)
GET /health answers 200 and is not logged: it is the start-up probe.
"""

import argparse
import base64
import json
import os
import re
import signal
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

TRACES_PATH = "/v1/traces"
HEALTH_PATH = "/health"
# Far above any batch the exporter sends; only guards the test machine's memory.
MAX_BODY_BYTES = 16 << 20
MAX_DECODED_BYTES = 64 << 20
# A stalled client must not hold a handler thread for ever.
IDLE_TIMEOUT_SECONDS = 30

TRACE_ID_HEX = re.compile(r"[0-9a-f]{32}")
SPAN_ID_HEX = re.compile(r"[0-9a-f]{16}")


class Rejected(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def hex_id_to_base64(obj, key, pattern, where, optional):
    """Replace obj[key] (OTLP/JSON hex) by base64 of the same bytes, for ParseDict."""
    if key not in obj:
        return
    value = obj[key]
    if optional and value == "":
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Rejected(400, f"{where}.{key}: not {pattern.pattern} hex: {value!r:.80}")
    obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


def convert_ids(request):
    """Convert every span and link id in a decoded OTLP/JSON request in place.

    Shapes other than the expected lists and objects are left alone for ParseDict
    to reject with its own message.
    """
    if not isinstance(request, dict):
        raise Rejected(400, "request body is not a JSON object")
    for r, resource_spans in enumerate(as_list(request.get("resourceSpans"))):
        for s, scope_spans in enumerate(as_list(dict_get(resource_spans, "scopeSpans"))):
            for i, span in enumerate(as_list(dict_get(scope_spans, "spans"))):
                if not isinstance(span, dict):
                    continue
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                hex_id_to_base64(span, "traceId", TRACE_ID_HEX, where, False)
                hex_id_to_base64(span, "spanId", SPAN_ID_HEX, where, False)
                hex_id_to_base64(span, "parentSpanId", SPAN_ID_HEX, where, True)
                for k, link in enumerate(as_list(span.get("links"))):
                    if isinstance(link, dict):
                        link_where = f"{where}.links[{k}]"
                        hex_id_to_base64(link, "traceId", TRACE_ID_HEX, link_where, False)
                        hex_id_to_base64(link, "spanId", SPAN_ID_HEX, link_where, False)


def as_list(value):
    return value if isinstance(value, list) else []


def dict_get(value, key):
    return value.get(key) if isinstance(value, dict) else None


def check_id(value, size, where, optional=False):
    if optional and len(value) == 0:
        return
    if len(value) != size:
        raise Rejected(400, f"{where}: {len(value)} bytes, want {size}")
    if value == bytes(size):
        raise Rejected(400, f"{where}: all zero (an invalid id)")


def any_value(value):
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values, "kvlist")
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind)


def attributes(key_values, where):
    result = {}
    for kv in key_values:
        # OTLP: keys MUST be unique; a flattened dict would hide the duplicate.
        if kv.key in result:
            raise Rejected(400, f"{where}: duplicate attribute key {kv.key!r}")
        result[kv.key] = any_value(kv.value)
    return result


def span_records(request):
    """One flat dict per span of a parsed ExportTraceServiceRequest; validates ids."""
    records = []
    for r, resource_spans in enumerate(request.resource_spans):
        resource = attributes(resource_spans.resource.attributes, f"resourceSpans[{r}].resource")
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for i, span in enumerate(scope_spans.spans):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                check_id(span.trace_id, 16, f"{where}.traceId")
                check_id(span.span_id, 8, f"{where}.spanId")
                check_id(span.parent_span_id, 8, f"{where}.parentSpanId", optional=True)
                links = []
                for k, link in enumerate(span.links):
                    check_id(link.trace_id, 16, f"{where}.links[{k}].traceId")
                    check_id(link.span_id, 8, f"{where}.links[{k}].spanId")
                    links.append({
                        "trace_id": link.trace_id.hex(),
                        "span_id": link.span_id.hex(),
                        "attributes": attributes(link.attributes, f"{where}.links[{k}]"),
                    })
                records.append({
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": trace_pb2.Span.SpanKind.Name(span.kind),
                    "start_time_unix_nano": span.start_time_unix_nano,
                    "end_time_unix_nano": span.end_time_unix_nano,
                    "attributes": attributes(span.attributes, where),
                    "status": {
                        "code": trace_pb2.Status.StatusCode.Name(span.status.code),
                        "message": span.status.message,
                    },
                    "trace_state": span.trace_state,
                    "flags": span.flags,
                    "events": [
                        {
                            "name": e.name,
                            "time_unix_nano": e.time_unix_nano,
                            "attributes": attributes(e.attributes, f"{where}.events[{n}]"),
                        }
                        for n, e in enumerate(span.events)
                    ],
                    "links": links,
                    "resource_attributes": resource,
                    "scope_name": scope_spans.scope.name,
                    "scope_version": scope_spans.scope.version,
                })
    return records


def parse_export(body):
    try:
        decoded = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Rejected(400, f"body is not JSON: {e}") from None
    convert_ids(decoded)
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        json_format.ParseDict(decoded, request, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise Rejected(400, f"not an OTLP ExportTraceServiceRequest: {e}") from None
    return span_records(request)


class Sink:
    """The output files. One lock orders whole requests, so lines never interleave."""

    def __init__(self, directory):
        self.directory = directory
        self.lock = threading.Lock()

    def append(self, name, text):
        if not text:
            return
        # One write on an O_APPEND descriptor per file and request; closing
        # flushes it, so readers see whole requests (no fsync: tests only need
        # the page cache, not durability).
        with open(os.path.join(self.directory, name), "a", encoding="utf-8") as f:
            f.write(text)

    def record(self, status, spans, error=None):
        with self.lock:
            self.append("spans.jsonl", "".join(json.dumps(s, sort_keys=True) + "\n" for s in spans))
            if error is not None:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                # protobuf's messages span lines; the log is one line per request.
                one_line = " ".join(error.split())
                self.append("errors.log", f"{stamp} {status} {one_line}\n")
            # Last, so a test that waits for N request lines then sees all their spans.
            self.append("requests.log", f"{status} {len(spans)}\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mgitd-otlp-receiver"
    timeout = IDLE_TIMEOUT_SECONDS
    sink = None  # set in main()

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        # requests.log and errors.log are the record; stderr stays for crashes.
        pass

    def dispatch(self):
        path = self.path.split("?", 1)[0]
        if path == HEALTH_PATH and self.command == "GET":
            self.reply(200, b'{"status":"ok"}', keep_alive=True)
            return
        try:
            if path != TRACES_PATH:
                raise Rejected(404, "unknown path")
            if self.command != "POST":
                raise Rejected(405, "only POST")
            spans = parse_export(self.read_body())
        except Rejected as e:
            self.sink.record(e.status, [], f"{self.command} {self.path[:200]}: {e.reason}")
            body = json.dumps({"code": 3, "message": e.reason}).encode()
            # The body may be unread: never reuse this connection.
            self.reply(e.status, body, keep_alive=False)
            return
        self.sink.record(200, spans)
        response = json_format.MessageToJson(trace_service_pb2.ExportTraceServiceResponse())
        self.reply(200, response.encode(), keep_alive=True)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = dispatch

    def do_HEAD(self):
        self.sink.record(405, [], f"HEAD {self.path[:200]}: only POST")
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def reply(self, status, body, keep_alive):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 405:
            self.send_header("Allow", "POST")
        if not keep_alive:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        media_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise Rejected(415, f"Content-Type {media_type!r}: only application/json (OTLP/JSON)")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self.read_chunked()
        else:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise Rejected(411, "no valid Content-Length")
            if int(length) > MAX_BODY_BYTES:
                raise Rejected(413, f"body of {length} bytes")
            body = self.read_exactly(int(length))
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding == "gzip":
            try:
                decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                body = decompressor.decompress(body, MAX_DECODED_BYTES)
                if decompressor.unconsumed_tail:
                    raise Rejected(413, f"gzip body inflates past {MAX_DECODED_BYTES} bytes")
                if not decompressor.eof:
                    raise Rejected(400, "truncated gzip body")
            except zlib.error as e:
                raise Rejected(400, f"bad gzip body: {e}") from None
        elif encoding != "identity":
            raise Rejected(415, f"Content-Encoding {encoding!r}: only gzip or identity")
        return body

    def read_exactly(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise Rejected(400, f"body ended after {len(data)} of {n} bytes")
        return data

    def read_chunked(self):
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise Rejected(400, f"bad chunk size line {line[:40]!r}") from None
            if size == 0:
                # Trailer section up to the empty line.
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise Rejected(413, f"chunked body over {MAX_BODY_BYTES} bytes")
            parts.append(self.read_exactly(size))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise Rejected(400, "chunk not followed by CRLF")


def write_atomically(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (see DIR/port)")
    parser.add_argument("--dir", required=True, help="output directory")
    args = parser.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    Handler.sink = Sink(args.dir)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    def on_signal(signum, frame):
        # shutdown() waits for serve_forever, which runs in this (main) thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # The socket already listens; the port file tells the starter where.
    write_atomically(os.path.join(args.dir, "port"), f"{server.server_address[1]}\n")
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    # Handler threads are daemons: taking the lock means none is mid-write.
    with Handler.sink.lock:
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
