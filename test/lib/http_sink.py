#!/usr/bin/env python3
"""A local HTTP receiver for webhook tests (python3 standard library only).

    http_sink.py serve LOG PORTFILE [PORT]   listen on 127.0.0.1:PORT (0 = any free port),
                                            write the port to PORTFILE, and append one JSON
                                            line per request to LOG
    http_sink.py query LOG CODE              run Python statements ("a = 1; b = 2; a + b") over
                                            the recorded requests (`reqs`, a list of dicts with
                                            t, method, path, headers, body) and print the value
                                            of the last one

The response is chosen by the request path (from its first keyword below, after
any prefix such as /allowed/), so a test points a channel at the behaviour it
wants:

    /status/CODE          always answer CODE
    /fail/N/CODE/...      answer CODE to the first N requests on this path, then 200
    /hang/SECONDS         wait SECONDS, then 200
    /retry-after/SECONDS  first request: 429 with Retry-After: SECONDS; then 200
    /binary/CODE          answer CODE with a body that is not valid UTF-8
    /redirect/CODE/TARGET answer CODE (301, 302, 303, 307, 308) with Location: TARGET, the rest
                          of the path percent-decoded (an absolute URL, or a path on this sink)
    anything else         200
"""
import ast
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
seen = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as libcurl expects
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between header and body

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        t = time.time()
        parts = self.path.split("?")[0].strip("/").split("/")
        # a behaviour may follow a prefix (/allowed/redirect/...): it starts at its keyword
        for i, p in enumerate(parts):
            if p in ("status", "fail", "hang", "retry-after", "binary", "redirect"):
                parts = parts[i:]
                break
        with lock:
            seen[self.path] = seen.get(self.path, 0) + 1
            n = seen[self.path]
            self.server.logfile.write(json.dumps({"t": t, "method": self.command, "path": self.path,
                                                  "headers": {k.lower(): v for k, v in self.headers.items()},
                                                  "body": body}) + "\n")
            self.server.logfile.flush()
        code, extra = 200, {}
        if parts[0] == "status" and len(parts) > 1:
            code = int(parts[1])
        elif parts[0] == "fail" and len(parts) > 2 and n <= int(parts[1]):
            code = int(parts[2])
        elif parts[0] == "hang" and len(parts) > 1:
            time.sleep(float(parts[1]))
        elif parts[0] == "retry-after" and len(parts) > 1 and n == 1:
            code, extra = 429, {"Retry-After": parts[1]}
        elif parts[0] == "redirect" and len(parts) > 2:
            code, extra = int(parts[1]), {"Location": urllib.parse.unquote("/".join(parts[2:]))}
        reply = json.dumps({"ok": 200 <= code < 300, "status": code}).encode()
        if parts[0] == "binary":   # /binary/CODE: a body that is not valid UTF-8
            code, reply = int(parts[1]), b"bad \xff\xfe\x00 bytes \xc3"
        self.send_response(code)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_PUT = do_GET = do_POST


class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that gave up (timeout) closed the connection: not an error here
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(log, portfile, port=0):
    server = Server(("127.0.0.1", int(port)), Handler)
    server.logfile = open(log, "a")
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    server.serve_forever()


def query(log, expr):
    reqs = []
    with open(log) as f:
        for line in f:
            if line.strip():
                reqs.append(json.loads(line))
    env = {"reqs": reqs, "json": json, "hmac": hmac, "hashlib": hashlib}
    # statements separated by ';', the last one an expression whose value is printed
    tree = ast.parse(expr)
    last = tree.body.pop()
    exec(compile(tree, "<query>", "exec"), env)
    result = eval(compile(ast.Expression(last.value), "<query>", "eval"), env)
    print(result if not isinstance(result, bool) else ("t" if result else "f"))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(*sys.argv[2:])
    elif sys.argv[1] == "query":
        query(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
