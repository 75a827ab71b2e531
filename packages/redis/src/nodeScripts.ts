/**
 * The Lua scripts of node liveness and the session directory (docs/scaling.md#node-messages-and-the-directory-on-redis).
 * Each runs atomically, so that a node's liveness key and the members set never disagree for long.
 *
 * Liveness: `node:<id>` (its value the incarnation of the process, a random id; a TTL refreshed by each
 * heartbeat) and `nodes`, the set of ids that had one. The directory: `own:<key>`, the id of the node that owns a session.
 */

/**
 * KEYS: this node's liveness key, the members set. ARGV: node id, TTL (ms), liveness key prefix, notice
 * channel, incarnation (a random id per process). Refreshes this node's key (its value the incarnation)
 * and returns `{existed, id1, incarnation1, id2, incarnation2, …}`: whether its key was there with this
 * incarnation (else it is announced on the notice channel, `+<id> <incarnation>`: Redis lost it, this is
 * the first heartbeat, or a process restarted under the same id before the old key lapsed) and the nodes
 * whose key is there, each with its incarnation. Members whose key lapsed leave the set.
 */
export const heartbeatScript = `
local old = redis.call('GET', KEYS[1])
local existed = 0
if old == ARGV[5] then existed = 1 end
redis.call('SET', KEYS[1], ARGV[5], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
if existed == 0 then redis.call('PUBLISH', ARGV[4], '+' .. ARGV[1] .. ' ' .. ARGV[5]) end
local out = {existed}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local v = redis.call('GET', ARGV[3] .. id)
  if v then
    out[#out + 1] = id
    out[#out + 1] = v
  else redis.call('SREM', KEYS[2], id) end
end
return out
`

/**
 * KEYS: this node's liveness key, the members set. ARGV: node id, notice channel, incarnation. Leaves at
 * once, unless a newer process under the same id holds the key already (then that one stays).
 */
export const leaveScript = `
if redis.call('GET', KEYS[1]) == ARGV[3] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
end
redis.call('PUBLISH', ARGV[2], '-' .. ARGV[1] .. ' ' .. ARGV[3])
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
