/**
 * The Lua scripts of presence (docs/scaling.md#presence-across-nodes). Each runs atomically in Redis, so
 * that a member's entry, the counts beside it and the event every node hears change in one step.
 *
 * Per key, a hash `<prefix>presence:<ref>`: one field per member, its id, whose value is
 * `<seq> <node> <data>` (`seq` orders the members by their first join, `node` is the node that holds
 * the member's session, `data` its JSON); and fields that start with a NUL byte, which no member id is
 * listed under: `\0s` the last `seq`, `\0m` the number of members, `\0n:<node>` the members of one node.
 * Per node, a set `<prefix>presence-node:<node>` of the hashes where it has members, for the sweep of a
 * node that is gone. Changes are published on the hash's own name as a channel: `j` or `l`, the length
 * of the id, `:`, the id, then the data.
 */

const helpers = `
local function event(channel, kind, id, data)
  redis.call('PUBLISH', channel, kind .. #id .. ':' .. id .. data)
end
local function parse(value)
  local a = string.find(value, ' ', 1, true)
  local b = string.find(value, ' ', a + 1, true)
  return string.sub(value, 1, a - 1), string.sub(value, a + 1, b - 1), string.sub(value, b + 1)
end
local function count(hash, prefix, node, by)
  local n = redis.call('HINCRBY', hash, '\\0n:' .. node, by)
  if n <= 0 then
    redis.call('HDEL', hash, '\\0n:' .. node)
    redis.call('SREM', prefix .. 'presence-node:' .. node, hash)
  elseif n == 1 and by > 0 then
    redis.call('SADD', prefix .. 'presence-node:' .. node, hash)
  end
end
local function remove(hash, prefix, id, node, data)
  redis.call('HDEL', hash, id)
  count(hash, prefix, node, -1)
  event(hash, 'l', id, data)
  if redis.call('HINCRBY', hash, '\\0m', -1) <= 0 then redis.call('DEL', hash) end
end
`

/**
 * KEYS: the key's hash. ARGV: member id, node, data, max members, prefix. Adds the member (or moves it to
 * this node, or replaces its data) and returns 1; returns 0, adding nothing, when the key is full. A
 * member that only moves to this node (a session taken over) keeps its place and is not announced.
 */
export const joinScript = `${helpers}
local hash, id, node, data, prefix = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local held = redis.call('HGET', hash, id)
local seq
if held then
  local s, n, d = parse(held)
  seq = s
  if n ~= node then
    count(hash, prefix, n, -1)
    count(hash, prefix, node, 1)
  end
  redis.call('HSET', hash, id, seq .. ' ' .. node .. ' ' .. data)
  if d ~= data then event(hash, 'j', id, data) end
  return 1
end
if tonumber(redis.call('HGET', hash, '\\0m') or '0') >= tonumber(ARGV[4]) then return 0 end
seq = redis.call('HINCRBY', hash, '\\0s', 1)
redis.call('HINCRBY', hash, '\\0m', 1)
count(hash, prefix, node, 1)
redis.call('HSET', hash, id, seq .. ' ' .. node .. ' ' .. data)
event(hash, 'j', id, data)
return 1
`

/** KEYS: the key's hash. ARGV: member id, node, prefix. Removes the member if this node holds it. */
export const leaveScript = `${helpers}
local hash, id, node, prefix = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local held = redis.call('HGET', hash, id)
if not held then return 0 end
local _, n, d = parse(held)
if n ~= node then return 0 end
remove(hash, prefix, id, node, d)
return 1
`

/**
 * KEYS: the gone node's set of hashes. ARGV: the gone node, prefix. Removes every member of that node,
 * announcing each leave, and returns how many; the nodes that hear of the death all run it, the first
 * removes, the others find nothing.
 */
export const sweepScript = `${helpers}
local node, prefix = ARGV[1], ARGV[2]
local removed = 0
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local fields = redis.call('HGETALL', hash)
  for i = 1, #fields, 2 do
    local id = fields[i]
    if string.byte(id, 1) ~= 0 then
      local _, n, d = parse(fields[i + 1])
      if n == node then
        remove(hash, prefix, id, node, d)
        removed = removed + 1
      end
    end
  end
end
redis.call('DEL', KEYS[1])
return removed
`
