-- Replace a filter month log's base and the tail records folded into it, only if neither
-- moved since they were read: KEYS = {base, tail}; ARGV = {base as read, tail as read, new base}.
-- Records appended to the tail after the read stay in it; if the base changed (another
-- instance compacted first), nothing is written. Compaction is never needed for correctness:
-- readers always sum base + tail.
local base, tail = KEYS[1], KEYS[2]
local held = redis.call('GET', base) or ''
if held ~= ARGV[1] then return 0 end
local read = #ARGV[2]
if read > 0 and redis.call('GETRANGE', tail, 0, read - 1) ~= ARGV[2] then return 0 end
if #ARGV[3] > 0 then redis.call('SET', base, ARGV[3]) else redis.call('DEL', base) end
local rest = ''
if redis.call('STRLEN', tail) > read then rest = redis.call('GETRANGE', tail, read, -1) end
if #rest > 0 then redis.call('SET', tail, rest) else redis.call('DEL', tail) end
return 1
