/**
 * The Lua scripts of node liveness and the session directory (docs/scaling.md#node-messages-and-the-directory-on-redis).
 * Each runs atomically, so that a node's liveness key and the members set never disagree for long.
 *
 * Liveness: `node:<id>` (its value the id, a TTL refreshed by each heartbeat) and `nodes`, the set of
 * ids that had one. The directory: `own:<key>`, the id of the node that owns a session.
 */

/**
 * KEYS: this node's liveness key, the members set. ARGV: node id, TTL (ms), liveness key prefix, notice
 * channel. Refreshes this node's key and returns `{existed, id1, id2, …}`: whether its key was still
 * there (else it is announced on the notice channel: Redis lost it, or this is the first heartbeat) and
 * the nodes whose key is there. Members whose key lapsed leave the set.
 */
export const heartbeatScript = `
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
if existed == 0 then redis.call('PUBLISH', ARGV[4], '+' .. ARGV[1]) end
local out = {existed}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[3] .. id) == 1 then out[#out + 1] = id
  else redis.call('SREM', KEYS[2], id) end
end
return out
`

/** KEYS: this node's liveness key, the members set. ARGV: node id, notice channel. Leaves at once. */
export const leaveScript = `
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], '-' .. ARGV[1])
return 1
`

/** KEYS: a directory key. ARGV: node id. Deletes it if this node still owns it. */
export const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

/**
 * KEYS: directory keys this node claimed. ARGV: node id, TTL (ms), `1` to write back the missing ones
 * (Redis lost them). Extends the TTL of those it still owns; returns 1 for those, 0 for the others
 * (another node claimed them since, or they were released).
 */
export const keepScript = `
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  elseif not v and ARGV[3] == '1' then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`
