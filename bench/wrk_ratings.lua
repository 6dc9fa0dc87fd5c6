-- wrk script of bench.ingest: POST rating bodies as app installs send them.
--
--   wrk -t1 -c64 -d10s -s bench/wrk_ratings.lua http://127.0.0.1:PORT -- \
--       PATH TOKENS_FILE PLAIN_FILE DOSSIER_FILE DOSSIER_FROM DOSSIER_SHARE KEY_PREFIX TOKEN_FROM THREADS
--
-- Every request carries the next install's token (round robin from TOKEN_FROM, so each
-- install stays under its daily limit across rounds), a fresh Idempotency-Key, and either a plain body (cycled) or, for
-- DOSSIER_SHARE of the requests, a dossier-coded body with its proof code, each used once
-- (DOSSIER_FROM says where this run starts in the file, so rounds never reuse one).
-- Each install also sends from an address of its own, as phones do: X-Forwarded-For from the
-- trusted local proxy (TRUSTED_PROXIES=127.0.0.1), in RFC 2544's 198.18.0.0/15. From one
-- address, every rating would look like a campaign to the scoring and be held.
-- `done` prints one line `BENCH k=v ...` that bench.ingest parses.

local path, tokens, plain, dossiers = "/", {}, {}, {}
local dossier_next, dossier_share, key_prefix, token_next = 1, 0, "k", 0
local sent, threads = 0, 1

local function lines(file)
  local out = {}
  if file == nil or file == "" or file == "-" then return out end
  for line in io.lines(file) do
    if #line > 0 then out[#out + 1] = line end
  end
  return out
end

local started = 0
function setup(thread)
  thread:set("thread_no", started)
  started = started + 1
end

function init(args)
  threads = tonumber(args[9])
  path = args[1]
  tokens = lines(args[2])
  plain = lines(args[3])
  dossiers = lines(args[4])
  dossier_next = tonumber(args[5]) + 1
  dossier_share = tonumber(args[6])
  key_prefix = args[7] .. "-" .. tostring(thread_no) .. "-"
  -- Threads take interleaved dossiers so two never send the same one.
  dossier_next = dossier_next + thread_no
  token_next = tonumber(args[8]) + thread_no
end

function request()
  sent = sent + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key_prefix .. sent,
  }
  if #tokens > 0 then
    local install = token_next % #tokens
    headers["Authorization"] = "Bearer " .. tokens[install + 1]
    headers["X-Forwarded-For"] = string.format(
      "198.%d.%d.%d", 18 + math.floor(install / 65536) % 2, math.floor(install / 256) % 256, install % 256)
    token_next = token_next + threads
  end
  local body
  -- A fixed pattern (every k-th request) keeps the share exact without a random source.
  if dossier_share > 0 and dossier_next <= #dossiers and (sent % math.floor(1 / dossier_share + 0.5)) == 0 then
    body = dossiers[dossier_next]
    dossier_next = dossier_next + threads
  else
    body = plain[sent % #plain + 1]
  end
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d "
      .. "p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
