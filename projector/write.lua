-- Apply one batch atomically: first every check, then every write, or nothing at all.
-- ARGV[1] = number of checks; then per check: key, field, present ('0'/'1'), expected value
-- (field '' = the key is a plain string).
-- Then ops until the end; each op names one key and carries everything the batch does to it,
-- so a batch is a few hundred calls whatever its size:
--   B key payload        BITFIELD INCRBY i32: payload = (slot u32, delta i32) big-endian pairs
--   H key payload        HINCRBY: payload = "field=delta,field=delta,..."; zero fields deleted
--   T bytes              from here on, report a log tail longer than max(bytes, base / 4)
--   P tail base payload  append log records (code u32, value i16) to a filter month log's tail;
--                        the reply lists (tail, base) when the tail is due for compaction
--   S key n f1 v1 ... fn vn   HSET of n fields
--   V key value          SET (customer states)
--   A key payload        SADD of the members in "m1,m2,..."
--   R key payload        SREM of the members in "m1,m2,..."
--   X key payload        BITFIELD u32 max: payload = (slot u32, value u32) pairs (raw seconds)
--   L key field value    HSET when smaller than held (or absent)
--   G key field value    HSET when greater than held (or absent)
local CHUNK = 900
local has_struct = type(struct) == 'table'

local function pair(s, at, signed)
  if has_struct then
    local a, b = struct.unpack(signed and '>I>i' or '>I>I', s, at)
    return a, b
  end
  local a1, a2, a3, a4, b1, b2, b3, b4 = string.byte(s, at, at + 7)
  local a = ((a1 * 256 + a2) * 256 + a3) * 256 + a4
  local b = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  if signed and b >= 2147483648 then b = b - 4294967296 end
  return a, b
end

local function bitfield(key, words)
  if #words > 0 then return redis.call('BITFIELD', key, unpack(words)) end
  return {}
end

local function members(command, key, payload)
  local batch = {}
  for member in string.gmatch(payload, '[^,]+') do
    batch[#batch + 1] = member
    if #batch >= CHUNK then redis.call(command, key, unpack(batch)); batch = {} end
  end
  if #batch > 0 then redis.call(command, key, unpack(batch)) end
end

local tail_min = 1024
local reply = {1, 0}  -- then (tail, base) of every tail due for compaction
local i = 2
local checks = tonumber(ARGV[1])
for c = 1, checks do
  local held
  if ARGV[i + 1] == '' then
    held = redis.call('GET', ARGV[i])
  else
    held = redis.call('HGET', ARGV[i], ARGV[i + 1])
  end
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
    local words, w = {}, 0
    for at = 1, #payload, 8 do
      local slot, delta = pair(payload, at, true)
      words[w + 1] = 'INCRBY'
      words[w + 2] = 'i32'
      words[w + 3] = '#' .. slot
      words[w + 4] = delta
      w = w + 4
      if w >= 4 * CHUNK then bitfield(key, words); words = {}; w = 0 end
    end
    bitfield(key, words)
    i = i + 3
  elseif op == 'H' then
    local key = ARGV[i + 1]
    for field, delta in string.gmatch(ARGV[i + 2], '([^,=]+)=(-?%d+)') do
      if redis.call('HINCRBY', key, field, delta) == 0 then redis.call('HDEL', key, field) end
    end
    i = i + 3
  elseif op == 'T' then
    tail_min = tonumber(ARGV[i + 1])
    i = i + 2
  elseif op == 'P' then
    local tail, base = ARGV[i + 1], ARGV[i + 2]
    -- GET + SET, not APPEND: APPEND grows a string greedily (to twice its length), and a
    -- tail is bounded (compacted once past max(tail_min, base / 4)), so the copy is cheap
    local held = redis.call('GET', tail)
    local grown = held and held .. ARGV[i + 3] or ARGV[i + 3]
    redis.call('SET', tail, grown)
    local length = #grown
    local limit = math.floor(redis.call('STRLEN', base) / 4)
    if limit < tail_min then limit = tail_min end
    if length > limit then
      reply[#reply + 1] = tail
      reply[#reply + 1] = base
    end
    i = i + 4
  elseif op == 'V' then
    redis.call('SET', ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'S' then
    local count = tonumber(ARGV[i + 2])
    local words = {}
    for k = 1, 2 * count do words[k] = ARGV[i + 2 + k] end
    redis.call('HSET', ARGV[i + 1], unpack(words))
    i = i + 3 + 2 * count
  elseif op == 'A' then
    members('SADD', ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'R' then
    members('SREM', ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'X' then
    local key, payload = ARGV[i + 1], ARGV[i + 2]
    local at = 1
    while at <= #payload do
      local words, wanted = {}, {}
      while at <= #payload and #wanted < CHUNK do
        local slot, value = pair(payload, at, false)
        slot = '#' .. slot
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
reply[2] = applied
return reply
