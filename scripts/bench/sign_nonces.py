"""Writes pre-signed Vobiz V3 nonces for the ingest benchmark: one file per wrk thread,
each line `nonce signature`. ORDER=random (the default) scatters them over 20-digit numbers as
Vobiz's are; ORDER=sequential numbers them in turn, as the benchmark did before 2026-12-07."""
import base64
import hashlib
import hmac
import os
import sys

token, url, threads, per_thread, out_dir = sys.argv[1:6]
order = sys.argv[6] if len(sys.argv) > 6 else "random"
if order not in ("sequential", "random"):
    sys.exit(f"nonce order must be sequential or random, not {order}")
# x -> (A*x + B) mod 10^20 is one to one, since A shares no factor with 10: unique nonces, spread
# far apart, without remembering the ones drawn.
A, B, SPACE = 6364136223846793007, 1442695040888963407, 10**20
os.makedirs(out_dir, exist_ok=True)
key = token.encode()
for thread in range(1, int(threads) + 1):
    with open(os.path.join(out_dir, f"{thread}.txt"), "w") as f:
        for i in range(int(per_thread)):
            if order == "random":
                nonce = f"{(A * (thread * 10**10 + i) + B) % SPACE:020d}"
            else:
                nonce = f"{thread}{i:09d}"
            mac = hmac.new(key, f"{url}.{nonce}".encode(), hashlib.sha256).digest()
            f.write(f"{nonce} {base64.b64encode(mac).decode()}\n")
