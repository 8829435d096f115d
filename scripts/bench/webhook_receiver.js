// A healthy webhook receiver for scripts/bench-webhooks.sh: answers 204 at once and notes,
// per message, how long after its commit it arrived (now - the body's timestamp, both on this
// machine's clock). On SIGTERM it writes its counts and percentiles to the file named by
// argv[3] and exits.
"use strict";
const http = require("http");
const fs = require("fs");

const port = Number(process.argv[2]);
const out = process.argv[3];
const latencies = [];
const ids = new Set();
let requests = 0;
let first = null;
let last = null;

http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const now = Date.now();
    requests += 1;
    first = first ?? now;
    last = now;
    ids.add(req.headers["webhook-id"]);
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      latencies.push(now - Date.parse(body.timestamp));
    } catch (e) {
      latencies.push(NaN);
    }
    res.writeHead(204);
    res.end();
  });
}).listen(port, "127.0.0.1");

process.on("SIGTERM", () => {
  const sorted = latencies.filter((l) => !Number.isNaN(l)).sort((a, b) => a - b);
  const at = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0);
  fs.writeFileSync(out, `requests=${requests} unique=${ids.size} p50=${at(50)} p99=${at(99)} max=${sorted[sorted.length - 1] ?? 0} span_ms=${last !== null ? last - first : 0}\n`);
  process.exit(0);
});
