#!/usr/bin/env python3
"""A local Vobiz REST API for the sync benchmark: an account of N recordings, listed in the
documented shape (pages of at most 100 with meta.next), behind X-Auth-ID/X-Auth-Token. Every
object is made on the fly from its index, so the server holds nothing but counters.

    vobiz_api.py RECORDINGS PORT_FILE   (prints the port it bound into PORT_FILE)
"""
import json
import sys
import threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlsplit, parse_qs

AUTH_ID = "MA_BENCH"
TOKEN = "bench-token"
TOTAL = int(sys.argv[1])
BASE = f"/api/v1/Account/{AUTH_ID}/Recording/"
START_MS = 1_779_168_527_000
served = {"pages": 0, "objects": 0, "unauthorised": 0}
lock = threading.Lock()


def recording(i, origin):
    rid = f"bench-{i:08d}"
    start = START_MS - i * 60_000
    return {
        "recording_id": rid,
        "recording_url": f"{origin}/media/{rid}.mp3",
        "recording_format": "mp3",
        "call_uuid": f"call-{i:08d}",
        "conference_name": "",
        "recording_type": "conference",
        "add_time": "2026-05-19 10:58:47.123456+05:30",
        "recording_start_ms": str(start),
        "recording_end_ms": str(start + 61_000),
        "recording_duration_ms": "61000.00000",
        "rounded_recording_duration": 120,
        "from_number": f"+9180{i:08d}",
        "to_number": "919624705678",
        "recording_storage_duration": 2,
        "resource_uri": f"{BASE}{rid}/",
        "api_id": "bench",
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.headers.get("X-Auth-ID") != AUTH_ID or self.headers.get("X-Auth-Token") != TOKEN:
            with lock:
                served["unauthorised"] += 1
            return self.answer(401, {"error": "not authorised"})
        url = urlsplit(self.path)
        if url.path == "/stats":
            return self.answer(200, served)
        if url.path != BASE:
            return self.answer(404, {"error": "Recording not found"})
        query = parse_qs(url.query)
        offset = int(query.get("offset", ["0"])[0])
        limit = max(1, min(100, int(query.get("limit", ["20"])[0])))
        origin = f"http://{self.headers.get('Host')}"
        objects = [recording(i, origin) for i in range(offset, min(offset + limit, TOTAL))]
        nxt = f"{BASE}?limit={limit}&offset={offset + limit}" if offset + limit < TOTAL else None
        with lock:
            served["pages"] += 1
            served["objects"] += len(objects)
        self.answer(200, {
            "api_id": "bench",
            "meta": {"limit": limit, "next": nxt, "offset": offset, "previous": None,
                     "total_count": TOTAL},
            "objects": objects,
        })

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[2], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
