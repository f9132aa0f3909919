-- Apply one batch atomically: first every check, then every write, or nothing at all.
-- ARGV[1] = number of checks; then per check: key, field, present ('0'/'1'), expected value.
-- Then ops until the end; bulk ops carry one payload per key, so a batch is a few hundred
-- calls whatever its size:
--   S key field value   HSET
--   B key payload       BITFIELD INCRBY i32: payload = (slot u32, delta i32) big-endian pairs
--   X key payload       BITFIELD u32 max: payload = (slot u32, value u32) pairs
--   H key payload       HINCRBY: payload = "field=delta,field=delta,..."; fields reaching 0 are deleted
--   L key field value   HSET when smaller than held (or absent)
--   G key field value   HSET when greater than held (or absent)
--   A key member        SADD
--   R key member        SREM
local CHUNK = 900

local function u32(s, i)
  local a, b, c, d = string.byte(s, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

local function i32(s, i)
  local v = u32(s, i)
  if v >= 2147483648 then v = v - 4294967296 end
  return v
end

local function bitfield(key, words)
  if #words > 0 then return redis.call('BITFIELD', key, unpack(words)) end
  return {}
end

local i = 2
local checks = tonumber(ARGV[1])
for c = 1, checks do
  local held = redis.call('HGET', ARGV[i], ARGV[i + 1])
  if ARGV[i + 2] == '0' then
    if held then return {0, c} end
  elseif held ~= ARGV[i + 3] then
    return {0, c}
  end
  i = i + 4
end
local n = #ARGV
local applied = 0
while i <= n do
  local op = ARGV[i]
  if op == 'B' then
    local key, payload = ARGV[i + 1], ARGV[i + 2]
    local words = {}
    for at = 1, #payload, 8 do
      words[#words + 1] = 'INCRBY'
      words[#words + 1] = 'i32'
      words[#words + 1] = '#' .. u32(payload, at)
      words[#words + 1] = i32(payload, at + 4)
      if #words >= 4 * CHUNK then bitfield(key, words); words = {} end
    end
    bitfield(key, words)
    i = i + 3
  elseif op == 'X' then
    local key, payload = ARGV[i + 1], ARGV[i + 2]
    local at = 1
    while at <= #payload do
      local words, wanted = {}, {}
      while at <= #payload and #wanted < CHUNK do
        local slot, value = '#' .. u32(payload, at), u32(payload, at + 4)
        words[#words + 1] = 'SET'
        words[#words + 1] = 'u32'
        words[#words + 1] = slot
        words[#words + 1] = value
        wanted[#wanted + 1] = {slot, value}
        at = at + 8
      end
      local held = bitfield(key, words)
      local restore = {}
      for k = 1, #held do
        if held[k] > wanted[k][2] then
          restore[#restore + 1] = 'SET'
          restore[#restore + 1] = 'u32'
          restore[#restore + 1] = wanted[k][1]
          restore[#restore + 1] = held[k]
        end
      end
      bitfield(key, restore)
    end
    i = i + 3
  elseif op == 'H' then
    local key = ARGV[i + 1]
    for field, delta in string.gmatch(ARGV[i + 2], '([^,=]+)=(-?%d+)') do
      if redis.call('HINCRBY', key, field, delta) == 0 then redis.call('HDEL', key, field) end
    end
    i = i + 3
  elseif op == 'S' then
    redis.call('HSET', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'A' then
    redis.call('SADD', ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'R' then
    redis.call('SREM', ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'L' or op == 'G' then
    local held = tonumber(redis.call('HGET', ARGV[i + 1], ARGV[i + 2]))
    local value = tonumber(ARGV[i + 3])
    if held == nil or (op == 'L' and value < held) or (op == 'G' and value > held) then
      redis.call('HSET', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    end
    i = i + 4
  else
    return redis.error_reply('custstats write: unknown op ' .. tostring(op))
  end
  applied = applied + 1
end
return {1, applied}
