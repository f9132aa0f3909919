-- Apply one batch atomically: first every check, then every write, or nothing at all.
-- ARGV[1] = number of checks; then per check: key, field, expected ('' with flag 0 = absent)
--   check layout: key, field, present(0/1), expected
-- then ops until the end:
--   S key field value    HSET
--   B key slot delta     BITFIELD INCRBY i32 at #slot
--   X key slot second    BITFIELD u32 at #slot := max(held, second)
--   H key field delta    HINCRBY, field deleted when it reaches 0
--   L key field value    HSET when smaller than held (or absent)
--   G key field value    HSET when greater than held (or absent)
--   A key member         SADD
--   R key member         SREM
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
    redis.call('BITFIELD', ARGV[i + 1], 'INCRBY', 'i32', '#' .. ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'H' then
    if redis.call('HINCRBY', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]) == 0 then
      redis.call('HDEL', ARGV[i + 1], ARGV[i + 2])
    end
    i = i + 4
  elseif op == 'X' then
    local key, at, value = ARGV[i + 1], '#' .. ARGV[i + 2], tonumber(ARGV[i + 3])
    local held = redis.call('BITFIELD', key, 'SET', 'u32', at, value)[1]
    if held > value then redis.call('BITFIELD', key, 'SET', 'u32', at, held) end
    i = i + 4
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
