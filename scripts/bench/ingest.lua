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

-- wrk runs each thread's init in its main thread, one thread after another, and starts a
-- thread as soon as its init returns; it starts the clock only once every thread has started.
-- A slow init is a head start for the threads before it, counted at the end: reading all of a
-- thread's 600,000 signed nonces here took 1.7-1.9 s of a 10 s run, during which the first
-- thread loaded the server alone while the second's init took a core from it. So init only
-- opens the thread's file; each request reads its own line.
function init(args)
  shape = os.getenv("SHAPE") or "legs"
  signed = assert(io.open(os.getenv("NONCE_DIR") .. "/" .. id .. ".txt"))
  next_index = 1
  -- Everything that does not change from one request to the next is built here, once. A
  -- request is then one concatenation: wrk.format (pairs over a header table) and
  -- string.format cannot be compiled by LuaJIT, and interpreting them took wrk about 13 µs
  -- of CPU a request, on the two cores the server under test shares with it.
  head = "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
    "\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Vobiz-Signature-V3: "
  froms = {}
  for leg = 0, 5 do
    froms[leg] = string.format("&From=9180%08d", leg)
  end
  stamps = {}
  for second = 0, 3599 do
    stamps[second] = string.format("&Timestamp=2026-05-19+10%%3A%02d%%3A%02d",
      math.floor(second / 60), second % 60)
  end
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
  return "ConferenceAction=" .. action ..
    "&ConferenceUUID=bench-" .. id .. "-" .. conference ..
    "&ConferenceName=Bench+" .. conference ..
    "&CallUUID=call-" .. id .. "-" .. conference .. "-" .. leg ..
    froms[leg] ..
    "&To=919624705678&ConferenceCurrentSize=" .. size ..
    stamps[i % 3600]
end

function request()
  local i = next_index
  next_index = i + 1
  local body = body_for(i)
  local line = assert(signed:read("*l"), "out of signed nonces")
  local space = line:find(" ", 1, true)
  return head .. line:sub(space + 1) .. "\r\nX-Vobiz-Signature-V3-Nonce: " .. line:sub(1, space - 1) ..
    "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
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
