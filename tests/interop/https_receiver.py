"""An HTTPS receiver for the export's test, on Python's own TLS and HTTP server: serves
127.0.0.1:PORT with CERT and KEY, appends each POST's body to OUT before it answers 200, and
prints "ready" once it listens. Handshakes that fail (a client that does not trust CERT) are
dropped, as any server drops them.

usage: https_receiver.py CERT KEY PORT OUT
"""
import http.server
import ssl
import sys

cert, key, port, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(out, "ab") as f:
            f.write(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", port), Receiver)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
