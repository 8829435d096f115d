-- wrk script for scripts/bench-ingest.sh: each request is a unique, validly signed
-- documented-shape callback. SHAPE=legs (the default): conferences of six legs, each leg
-- enters and then leaves (twelve callbacks a conference). SHAPE=new: every callback is the
-- first enter of a new conference (the worst case). SHAPE=ends: a leg enters and the
-- conference ends (two callbacks a conference: a webhook message per two callbacks, for
-- bench-webhooks.sh). SHAPE=meetings: six legs enter and leave, then the conference ends
-- (thirteen callbacks, one message). Prints the figures the bench scripts read.
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local dir = os.getenv("NONCE_DIR")
  shape = os.getenv("SHAPE") or "legs"
  nonces, signatures = {}, {}
  for line in io.lines(dir .. "/" .. id .. ".txt") do
    local n, s = line:match("(%S+) (%S+)")
    nonces[#nonces + 1] = n
    signatures[#signatures + 1] = s
  end
  next_index = 1
end

local function body_for(i)
  local conference, action, leg, size
  if shape == "new" then
    conference, action, leg, size = i, "enter", 0, 1
  elseif shape == "meetings" then
    conference = math.floor((i - 1) / 13)
    local step = (i - 1) % 13
    leg = step % 6
    if step < 6 then
      action, size = "enter", leg + 1
    elseif step < 12 then
      action, size = "exit", 5 - leg
    else
      action, size, leg = "end", 0, 0
    end
  elseif shape == "ends" then
    conference, leg = math.floor((i - 1) / 2), 0
    if (i - 1) % 2 == 0 then
      action, size = "enter", 1
    else
      action, size = "end", 0
    end
  else
    conference = math.floor((i - 1) / 12)
    local step = (i - 1) % 12
    leg = step % 6
    if step < 6 then
      action, size = "enter", leg + 1
    else
      action, size = "exit", 5 - leg
    end
  end
  local second = (i % 3600)
  return "ConferenceAction=" .. action ..
    "&ConferenceUUID=bench-" .. id .. "-" .. conference ..
    "&ConferenceName=Bench+" .. conference ..
    "&CallUUID=call-" .. id .. "-" .. conference .. "-" .. leg ..
    "&From=9180" .. string.format("%08d", leg) ..
    "&To=919624705678&ConferenceCurrentSize=" .. size ..
    string.format("&Timestamp=2026-05-19+10%%3A%02d%%3A%02d", math.floor(second / 60), second % 60)
end

function request()
  local i = next_index
  next_index = i + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Vobiz-Signature-V3"] = signatures[i],
    ["X-Vobiz-Signature-V3-Nonce"] = nonces[i],
  }, body_for(i))
end

function done(summary, latency, requests)
  -- Every answer that is not an error status is a 200 (neither server sends another 2xx/3xx);
  -- errors are counted by kind so that a run that measured refusals shows it.
  local e = summary.errors
  local ok = summary.requests - e.status
  io.write(string.format(
    "requests/s=%.0f p50=%.2fms p99=%.2fms p999=%.2fms acknowledged=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, ok, e.status,
    e.connect, e.read, e.write, e.timeout))
end
