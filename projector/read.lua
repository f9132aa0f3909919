-- Read what a batch needs, and give every named employee its dense index, in one call.
-- ARGV is a sequence of requests; the reply has one value per request.
--   C key        customer state (a string; false when absent)
--   P key field  a hash field (employee profile)
--   I key field  the employee's index in the tenant's index hash, allocated when new
local out = {}
local i = 1
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  if op == 'C' then
    out[#out + 1] = redis.call('GET', ARGV[i + 1])
    i = i + 2
  elseif op == 'P' then
    out[#out + 1] = redis.call('HGET', ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'I' then
    local key, field = ARGV[i + 1], ARGV[i + 2]
    local v = redis.call('HGET', key, field)
    if not v then
      v = tostring(redis.call('HINCRBY', key, '#', 1) - 1)
      redis.call('HSET', key, field, v)
    end
    out[#out + 1] = v
    i = i + 3
  else
    return redis.error_reply('custstats read: unknown op ' .. tostring(op))
  end
end
return out
