-- One scenario of Latch's benchmark, for wrk (bench/run.py writes the spec and reads the result).
--
--   wrk -t1 -c16 -d5s -s bench/wrk/scenario.lua http://127.0.0.1:PORT -- SPEC.lua
--
-- SPEC.lua returns {method=, path=, headers={}, body=, lines=FILE or nil, spend=bool, expect=STRING}.
-- Each line of `lines` holds tab-separated fields that replace {1}, {2}, ... in path, headers and
-- body: a bearer token, a refresh token, a code and its verifier. With `spend` every request uses
-- a line of its own (a refresh token or a code works once); otherwise the lines are cycled.
-- Requests are built in init(), as wrk's SCRIPTING advises, so request() is a table lookup.
--
-- A response counts as good only when its status is 2xx and its body contains `expect` (a 200
-- from /oauth/introspect saying "active": false is a failure too). The result is one line,
-- "BENCH_RESULT {json}", which bench/report.py parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local spec, built, count, index, spare

local function fill(template, fields)
  if template == nil then
    return nil
  end
  return (template:gsub("{(%d+)}", function(i) return fields[tonumber(i)] end))
end

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    table.insert(fields, field)
  end
  return fields
end

local function build(fields)
  local headers = {}
  for name, value in pairs(spec.headers or {}) do
    headers[name] = fill(value, fields)
  end
  return wrk.format(spec.method, fill(spec.path, fields), headers, fill(spec.body, fields))
end

function init(args)
  spec = dofile(args[1])
  built = {}
  if spec.lines then
    for line in io.lines(spec.lines) do
      if line ~= "" then
        table.insert(built, build(split(line)))
      end
    end
  else
    built[1] = build({})
  end
  count, index = #built, 0
  -- Sent once the lines of a `spend` run are used up, instead of replaying a spent one.
  spare = wrk.format("GET", "/bench/bare")
  -- Globals, so that done() can read them with thread:get().
  statuses, bad, exhausted, sample = {}, 0, 0, nil
end

function request()
  index = index + 1
  if index > count then
    if spec.spend then
      exhausted = exhausted + 1
      wrk.thread:stop()
      return spare
    end
    index = 1
  end
  return built[index]
end

function response(status, headers, body)
  if exhausted > 0 then
    return
  end
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  local good = status >= 200 and status < 300
  if good and spec.expect and not body:find(spec.expect, 1, true) then
    bad = bad + 1
    good = false
  end
  if not good and sample == nil then
    sample = key .. " " .. body:sub(1, 400)
  end
end

local function quote(text)
  return '"' .. text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

local function encode(value)
  local kind = type(value)
  if kind == "table" then
    local parts = {}
    for key, item in pairs(value) do
      table.insert(parts, quote(tostring(key)) .. ":" .. encode(item))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "string" then
    return quote(value)
  elseif kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      return "null"
    end
    return string.format("%.17g", value)
  elseif kind == "boolean" then
    return tostring(value)
  end
  return "null"
end

function done(summary, latency, requests)
  local result = {
    requests = summary.requests,
    duration_us = summary.duration,
    errors = summary.errors,
    p50_us = latency:percentile(50),
    p99_us = latency:percentile(99),
    max_us = latency.max,
    statuses = {},
    bad = 0,
    exhausted = 0,
  }
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      result.statuses[status] = (result.statuses[status] or 0) + n
    end
    result.bad = result.bad + (thread:get("bad") or 0)
    result.exhausted = result.exhausted + (thread:get("exhausted") or 0)
    result.sample = result.sample or thread:get("sample")
  end
  io.write("BENCH_RESULT ", encode(result), "\n")
end
