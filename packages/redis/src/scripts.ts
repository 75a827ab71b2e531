import { createHash } from "node:crypto"
import type { RedisClient } from "./connection.ts"

/**
 * The Lua scripts of topics. Each runs atomically in Redis, so that the offset a publication gets, its
 * place in the key's history and its PUBLISH happen in one step: every node sees one order per key.
 *
 * Per key: `meta`, a hash with the epoch `e` and the newest offset `n`; `log`, a Stream of the recent
 * publications (fields `o`, the offset, and `m`, the message), trimmed to `topicHistorySize` entries
 * and to `topicHistoryTtlMs` (Stream ids are Redis's clock, so `XTRIM MINID` drops the old ones).
 * A missing `meta` means the key's history was lost (or never was): a new epoch is made, from Redis's
 * clock and the node's id, so that it can never be one seen before.
 */

const epochOf = `
local function epoch()
  local e = redis.call('HGET', KEYS[1], 'e')
  if e then return e end
  local t = redis.call('TIME')
  e = t[1] .. '.' .. t[2] .. '.' .. ARGV[1]
  redis.call('HSET', KEYS[1], 'e', e, 'n', 0)
  return e
end
local function trim(ttl)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XTRIM', KEYS[2], 'MINID', now - ttl)
end
`

/**
 * KEYS: meta, log. ARGV: node id, channel, message, history size, history TTL (ms), meta TTL (ms).
 * Returns `{offset, epoch}` after appending and publishing `offset:epoch:message`.
 */
export const publishScript = `${epochOf}
local e = epoch()
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local ttl = tonumber(ARGV[5])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], '*', 'o', n, 'm', ARGV[3])
trim(ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PUBLISH', ARGV[2], n .. ':' .. e .. ':' .. ARGV[3])
return {n, e}
`

/**
 * KEYS: meta, log. ARGV: node id, since offset (-1: none), since epoch, history TTL (ms), meta TTL (ms).
 * The meta lives for the meta TTL once the key has publications, else for the history TTL. Returns `{epoch, offset, covered, o1, m1, o2, m2, …}`: the publications after `since` that the history
 * still holds, oldest first, and `covered` 1 when they are all of them.
 */
export const readScript = `${epochOf}
local e = epoch()
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
-- A key nobody published on (a read made its meta: any key a client names) lives as its history would,
-- not for the meta TTL; one with publications keeps its epoch for the meta TTL.
if n > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) else redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
local since = tonumber(ARGV[2])
if since < 0 or ARGV[3] ~= e or since > n then return {e, n, 0} end
if since == n then return {e, n, 1} end
trim(tonumber(ARGV[4]))
local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', n - since)
local out = {e, n, 0}
local first = n + 1
for i = #entries, 1, -1 do
  local fields = entries[i][2]
  local o = tonumber(fields[2])
  if o > since then
    if o < first then first = o end
    out[#out + 1] = o
    out[#out + 1] = fields[4]
  end
end
if first == since + 1 then out[3] = 1 end
return out
`

/**
 * KEYS: metas of keys a node listens to. ARGV: the history TTL (ms) of each. Extends the TTL of each meta
 * of a key nobody published on yet (it lives for the history TTL, see `readScript`), so that the epoch
 * its subscribers hold stays while they are there, however quiet the key.
 */
export const touchScript = `
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'n') == '0' then redis.call('PEXPIRE', key, ARGV[i]) end
end
return 1
`

const shas = new Map<string, string>()

/** One script on one connection: its calls not yet answered, and the gate of a `NOSCRIPT` recovery. */
interface OnConnection {
  sent: number
  gate: Promise<void> | undefined
  open: (() => void) | undefined
}
// Per connection: a new connection (after a restart) loads its scripts again.
const connections = new WeakMap<RedisClient, Map<string, OnConnection>>()

/**
 * Runs a script by its SHA1, keeping the calls in the order they were made (publications not awaited
 * reach subscribers in that order). The first call on a connection sends `SCRIPT LOAD` ahead of its
 * `EVALSHA`, on the same connection, so that Redis has it. A `NOSCRIPT` all the same (`SCRIPT FLUSH` on
 * a live connection) is retried with `EVAL`; the calls made meanwhile wait until every call already sent
 * has run, so that none that finds the script loaded again overtakes one still being retried.
 */
export function runScript(
  client: RedisClient,
  script: string,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  let sha = shas.get(script)
  if (sha === undefined) {
    sha = createHash("sha1").update(script).digest("hex")
    shas.set(script, sha)
  }
  let scripts = connections.get(client)
  if (!scripts) {
    scripts = new Map()
    connections.set(client, scripts)
  }
  let state = scripts.get(sha)
  if (!state) {
    state = { sent: 0, gate: undefined, open: undefined }
    scripts.set(sha, state)
    // A failed load shows as NOSCRIPT below.
    client.sendCommand(["SCRIPT", "LOAD", script]).catch(() => {})
  }
  const call = [sha, String(keys.length), ...keys, ...args]
  const on = state
  if (on.gate) return on.gate.then(() => send(client, on, script, call))
  return send(client, on, script, call)
}

function send(client: RedisClient, state: OnConnection, script: string, call: readonly string[]): Promise<unknown> {
  state.sent++
  return client
    .sendCommand(["EVALSHA", ...call])
    .catch((error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error
      state.gate ??= new Promise((resolve) => {
        state.open = resolve
      })
      return client.sendCommand(["EVAL", script, ...call.slice(1)])
    })
    .finally(() => {
      if (--state.sent > 0 || !state.open) return
      const open = state.open
      state.gate = undefined
      state.open = undefined
      open()
    })
}
