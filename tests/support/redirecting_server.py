#!/usr/bin/env python3
"""A TLS server that asks for basic auth, then redirects every authenticated request to
another host:port: the test that a credential never follows a redirect (tests/integration).

    redirecting_server.py CERT KEY TARGET_BASE

Listens on 127.0.0.1 (a port the kernel picks), prints "listening on PORT", then one line per
request: "request METHOD PATH auth=yes|no". A request without Authorization gets 401; one with
it gets 302 to TARGET_BASE + the request's path and query.
"""
import http.server
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        authorized = "Authorization" in self.headers
        print(f"request GET {self.path} auth={'yes' if authorized else 'no'}", flush=True)
        if not authorized:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="redirect-test"')
        else:
            self.send_response(302)
            self.send_header("Location", sys.argv[3] + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):  # the lines above are the log
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
