"""Writes pre-signed Vobiz V3 nonces for the ingest benchmark: one file per wrk thread,
each line `nonce signature`."""
import base64
import hashlib
import hmac
import os
import sys

token, url, threads, per_thread, out_dir = sys.argv[1:]
os.makedirs(out_dir, exist_ok=True)
key = token.encode()
for thread in range(1, int(threads) + 1):
    with open(os.path.join(out_dir, f"{thread}.txt"), "w") as f:
        for i in range(int(per_thread)):
            nonce = f"{thread}{i:09d}"
            mac = hmac.new(key, f"{url}.{nonce}".encode(), hashlib.sha256).digest()
            f.write(f"{nonce} {base64.b64encode(mac).decode()}\n")
