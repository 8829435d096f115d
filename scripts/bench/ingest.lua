-- wrk script for scripts/bench-ingest.sh: each request is a unique, validly signed live-shape
-- enter callback. Prints the figures bench-ingest.sh reads.
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local dir = os.getenv("NONCE_DIR")
  nonces, signatures = {}, {}
  for line in io.lines(dir .. "/" .. id .. ".txt") do
    local n, s = line:match("(%S+) (%S+)")
    nonces[#nonces + 1] = n
    signatures[#signatures + 1] = s
  end
  next_index = 1
end

function request()
  local i = next_index
  next_index = i + 1
  local n = nonces[i]
  local body = "ConferenceAction=enter&Event=ConferenceEnter&ConferenceUUID=bench-" .. id .. "-" ..
    math.floor(i / 20) .. "&ConferenceName=Bench&ConferenceMemberID=" .. (i % 20) ..
    "&CallUUID=call-" .. n .. "&From=9180" .. n .. "&To=919624705678&Direction=inbound"
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Vobiz-Signature-V3"] = signatures[i],
    ["X-Vobiz-Signature-V3-Nonce"] = n,
  }, body)
end

function done(summary, latency, requests)
  -- Every answer that is not an error status is a 200 (the server sends no other 2xx/3xx).
  local total = summary.requests - summary.errors.status
  io.write(string.format("requests/s=%.0f p50=%.2fms p99=%.2fms p999=%.2fms acknowledged=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, total))
end
