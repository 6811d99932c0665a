#!/usr/bin/env python3
"""HTTP server on 127.0.0.1 for the node-agent tests, serving DIR with Range support and
injected faults. Prints its port on the first line, exits after LIFETIME seconds.
  /files/NAME   the file (200, or 206 for a Range request)
  /500/NAME     always 500
  /flaky/NAME   500 for the first two requests, then the file
  /stall/NAME   headers and 1 KiB, then silence
  /drop/NAME    the first request closes after half the body; later ones honour Range
Usage: fault_server.py DIR [LIFETIME]"""
import http.server, os, sys, threading, time

root = sys.argv[1]
lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 300
counts = {}
lock = threading.Lock()

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/", 1)
        if len(parts) != 2:
            return self.send_error(404)
        mode, name = parts
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            n = counts[self.path]
        path = os.path.join(root, os.path.basename(name))
        if mode == "endless":
            # No Content-Length and no end (bounded: 4 GiB or the server's lifetime).
            self.send_response(200)
            self.end_headers()
            zeros = bytes(1 << 16)
            for _ in range((4 << 30) >> 16):
                try:
                    self.wfile.write(zeros)
                except (BrokenPipeError, ConnectionResetError):
                    return
            return
        if mode == "retryafter" and n == 1:
            body = b"busy"
            self.send_response(503)
            self.send_header("Retry-After", "2")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)
        if mode == "500" or (mode == "flaky" and n <= 2):
            body = b"boom"
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)
        if not os.path.isfile(path) or mode not in ("files", "flaky", "stall", "drop", "retryafter"):
            return self.send_error(404)
        size = os.path.getsize(path)
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and not (mode == "drop" and n == 1):
            start = int(rng[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            if mode == "stall":
                self.wfile.write(f.read(1024))
                self.wfile.flush()
                time.sleep(lifetime)
                return
            if mode == "drop" and n == 1:
                self.wfile.write(f.read((size - start) // 2))
                self.wfile.flush()
                self.close_connection = True
                return
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                self.wfile.write(chunk)

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
threading.Timer(lifetime, srv.shutdown).start()
srv.serve_forever()
