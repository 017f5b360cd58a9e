#!/usr/bin/env python3
"""Checks webhook-request.mjs and webhook-load.mjs against an independent receiver.

A stdlib HTTP server on loopback verifies every request the way each provider's documentation
says a receiver must (GitHub: X-Hub-Signature-256 = "sha256=" + HMAC-SHA256 hex of the body;
GitLab: X-Gitlab-Token equals the secret; Gitea: X-Gitea-Signature = HMAC-SHA256 hex), with
Python's hmac, and answers 202 or 401. Then the client runs for every provider and event, with
the negative knobs, and each answer and recorded request is checked.

    MGITD_TEST_WEBHOOK_NODE_MODULES=... tests/webhooks/check-client.py

(scripts/lib/node-tools.sh's ensure_webhook_node_modules sets the variable.) Prints one line
per case and exits non-zero on the first failure.
"""

import hashlib
import hmac
import http.server
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading

HERE = pathlib.Path(__file__).resolve().parent
CLIENT = HERE / "webhook-request.mjs"
LOAD = HERE / "webhook-load.mjs"
SECRET = "check-client-secret-7f3a"
ZERO = "0" * 40


def verified(provider, headers, body):
    if provider == "github":
        got = headers.get("X-Hub-Signature-256", "")
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(got, want)
    if provider == "gitlab":
        return hmac.compare_digest(headers.get("X-Gitlab-Token", ""), SECRET)
    got = headers.get("X-Gitea-Signature", "")
    want = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(got, want)


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the client's delayed ACK adds
    # ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    requests = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        provider = self.path.rsplit("/", 1)[-1]
        ok = verified(provider, self.headers, body)
        Receiver.requests.append({"headers": dict(self.headers), "body": body, "verified": ok})
        answer = json.dumps({"verified": ok}).encode()
        self.send_response(202 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def run(*args):
    out = subprocess.run(["node", *map(str, args)], capture_output=True, text=True, check=False)
    if out.returncode not in (0, 1):
        sys.exit(f"{args[0]} failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + (f": {detail}" if detail and not condition else ""))
    if not condition:
        sys.exit(1)


def main():
    # A listen backlog for every concurrent connection of the load case: the default (5) drops
    # SYNs, and their 1 s retransmission would show up as the client's latency.
    http.server.ThreadingHTTPServer.request_queue_size = 128
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/webhooks"
    with tempfile.TemporaryDirectory() as tmp:
        secret_file = pathlib.Path(tmp, "secret")
        # Two lines, as while rotating: the client signs with the first.
        secret_file.write_text(SECRET + "\nthe-next-secret\n")
        common = ["--secret-file", secret_file]

        events = {"github": ["push", "tag", "delete", "ping"], "gitlab": ["push", "tag", "delete"],
                  "gitea": ["push", "tag", "delete"]}
        for provider, names in events.items():
            for event in names:
                Receiver.requests.clear()
                result = run(CLIENT, "--url", f"{base}/{provider}", "--provider", provider,
                             "--event", event, "--repository", "acme/app", "--delivery",
                             f"d-{provider}-{event}", *common)
                request = Receiver.requests[-1]
                payload = json.loads(request["body"])
                name = f"{provider} {event}"
                check(f"{name}: 202 and the signature verifies", result["status"] == 202 and request["verified"],
                      json.dumps(result))
                headers = {k.lower(): v for k, v in request["headers"].items()}
                if provider == "github":
                    check(f"{name}: X-GitHub-Event", headers["x-github-event"] == ("ping" if event == "ping" else "push"))
                    check(f"{name}: X-GitHub-Delivery", headers["x-github-delivery"] == f"d-{provider}-{event}")
                    check(f"{name}: repository.full_name", payload["repository"]["full_name"] == "acme/app")
                    check(f"{name}: no URL names the example's repository",
                          "Hello-World" not in json.dumps(payload["repository"]))
                elif provider == "gitlab":
                    want = "Tag Push Hook" if event == "tag" else "Push Hook"
                    check(f"{name}: X-Gitlab-Event", headers["x-gitlab-event"] == want)
                    check(f"{name}: Idempotency-Key and X-Gitlab-Event-UUID",
                          headers["idempotency-key"] == headers["x-gitlab-event-uuid"] == f"d-{provider}-{event}")
                    check(f"{name}: project.path_with_namespace",
                          payload["project"]["path_with_namespace"] == "acme/app"
                          and payload["project"]["git_http_url"].endswith("/acme/app.git"))
                else:
                    check(f"{name}: X-Gitea-Event/Delivery",
                          headers["x-gitea-event"] == "push" and headers["x-gitea-delivery"] == f"d-{provider}-{event}")
                    check(f"{name}: repository.full_name", payload["repository"]["full_name"] == "acme/app"
                          and payload["repository"]["clone_url"].endswith("/acme/app.git"))
                if event == "tag":
                    check(f"{name}: a tag ref", payload["ref"].startswith("refs/tags/"))
                if event == "delete":
                    check(f"{name}: an all-zero after on a branch",
                          payload["after"] == ZERO and payload["ref"].startswith("refs/heads/"))
                    if provider == "github":
                        check(f"{name}: deleted", payload["deleted"] is True)

        for provider in ("github", "gitlab", "gitea"):
            url = f"{base}/{provider}"
            result = run(CLIENT, "--url", url, "--provider", provider, *common, "--bad-signature")
            check(f"{provider} --bad-signature: 401, not verified",
                  result["status"] == 401 and not Receiver.requests[-1]["verified"])
            result = run(CLIENT, "--url", url, "--provider", provider, *common, "--no-signature")
            sent = {k.lower() for k in Receiver.requests[-1]["headers"]}
            check(f"{provider} --no-signature: 401, no signature header",
                  result["status"] == 401 and not sent & {"x-hub-signature-256", "x-hub-signature",
                                                          "x-gitlab-token", "x-gitea-signature"})
            result = run(CLIENT, "--url", url, "--provider", provider, *common, "--ref", "refs/heads/feature",
                         "--before", "1" * 40, "--after", "2" * 40, "--clone-url", "https://evil.example/x.git")
            payload = json.loads(Receiver.requests[-1]["body"])
            repo = payload["project" if provider == "gitlab" else "repository"]
            urls = [repo[k] for k in ("clone_url", "git_http_url", "git_ssh_url", "ssh_url") if k in repo]
            check(f"{provider} --ref/--before/--after/--clone-url",
                  result["status"] == 202 and payload["ref"] == "refs/heads/feature"
                  and payload["before"] == "1" * 40 and payload["after"] == "2" * 40
                  and urls and all(u == "https://evil.example/x.git" for u in urls))

        body_file = pathlib.Path(tmp, "body")
        body_file.write_bytes(b'{"not": "a push"')
        result = run(CLIENT, "--url", f"{base}/github", "--provider", "github", *common, "--body-file", body_file,
                     "--content-type", "text/plain")
        request = Receiver.requests[-1]
        check("--body-file is sent as is and signed, --content-type overrides",
              result["status"] == 202 and request["body"] == b'{"not": "a push"'
              and request["headers"]["Content-Type"] == "text/plain")

        result = run(CLIENT, "--url", f"{base}/github", "--provider", "github", *common,
                     "--omit-header", "x-github-event", "--header", "X-Extra: 1",
                     "--header", "X-GitHub-Delivery: replaced")
        sent = Receiver.requests[-1]["headers"]
        check("--omit-header drops, --header adds and replaces",
              result["status"] == 202 and "X-GitHub-Event" not in sent and sent.get("X-Extra") == "1"
              and sent.get("X-GitHub-Delivery") == "replaced")
        result = run(CLIENT, "--url", f"{base}/github", "--provider", "github", *common, "--method", "PUT")
        check("--method PUT is sent as PUT (the receiver has no PUT: 501)", result["status"] == 501)

        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        result = run(CLIENT, "--url", f"http://127.0.0.1:{port}/webhooks/github", "--provider", "github",
                     *common)
        check("no server: status 0 and ECONNREFUSED", result["status"] == 0 and "ECONNREFUSED" in result["error"],
              json.dumps(result))

        Receiver.requests.clear()
        summary = run(LOAD, "--url", f"{base}/github", "--provider", "github", *common, "--repository", "acme/app",
                      "--requests", 50, "--concurrency", 8)
        deliveries = {r["headers"]["X-GitHub-Delivery"] for r in Receiver.requests}
        check("load: 50 verified requests, distinct deliveries",
              summary["status_counts"] == {"202": 50} and len(deliveries) == 50
              and all(r["verified"] for r in Receiver.requests), json.dumps(summary))
        print(json.dumps(summary))
    server.shutdown()


if __name__ == "__main__":
    if not os.environ.get("MGITD_TEST_WEBHOOK_NODE_MODULES"):
        sys.exit("MGITD_TEST_WEBHOOK_NODE_MODULES is not set (scripts/lib/node-tools.sh)")
    main()
