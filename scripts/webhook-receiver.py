#!/usr/bin/env python3
"""A webhook receiver for Cairn's events (docs/audit.md, "Webhooks"), and the one the tests run.

It checks every delivery's signature with the Standard Webhooks library
(`pip install standardwebhooks`), as any receiver should, answers 204 to those that verify and
400 to those that do not, and appends each accepted event to --out as one JSON line
{id, type, index, duplicate}. A receiver drops a delivery whose webhook-id it has already had
(Cairn delivers again an event whose answer it did not get); this one marks it instead.

The secret (`cairn server webhook-secret --data-dir DIR URL`) is the first line of stdin;
until it has been read every delivery is answered 503. The first line printed is the URL it
listens on.

    webhook-receiver.py --listen 127.0.0.1:8080 --out events.jsonl < secret

For tests: --refuse-first N answers 503 to the first N deliveries, and --down-while FILE
answers 503 while FILE exists.
"""

import argparse
import http.server
import json
import os
import sys
import threading

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--listen", default="127.0.0.1:0")
parser.add_argument("--out", required=True)
parser.add_argument("--refuse-first", type=int, default=0)
parser.add_argument("--down-while")
args = parser.parse_args()

lock = threading.Lock()
state = {"webhook": None, "refused": 0, "seen": set()}


def read_secret():
    line = sys.stdin.readline().strip()
    with lock:
        state["webhook"] = Webhook(line)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            if state["webhook"] is None or (args.down_while and os.path.exists(args.down_while)):
                return self.answer(503)
            if state["refused"] < args.refuse_first:
                state["refused"] += 1
                return self.answer(503)
            try:
                event = state["webhook"].verify(body, dict(self.headers))
            except WebhookVerificationError as e:
                print(f"REJECTED {self.headers.get('webhook-id')}: {e}", file=sys.stderr, flush=True)
                return self.answer(400)
            message_id = self.headers["webhook-id"]
            line = {
                "id": message_id,
                "type": event["type"],
                "index": event["data"]["index"],
                "duplicate": message_id in state["seen"],
            }
            state["seen"].add(message_id)
            with open(args.out, "a") as out:
                out.write(json.dumps(line) + "\n")
            return self.answer(204)

    def answer(self, status):
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


host, port = args.listen.rsplit(":", 1)
server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
print(f"listening on http://{host}:{server.server_address[1]}", flush=True)
threading.Thread(target=read_secret, daemon=True).start()
server.serve_forever()
