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
 * Returns `{epoch, offset, covered, o1, m1, o2, m2, …}`: the publications after `since` that the history
 * still holds, oldest first, and `covered` 1 when they are all of them.
 */
export const readScript = `${epochOf}
local e = epoch()
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
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

const shas = new Map<string, string>()
/** The scripts each connection has sent whole: Redis has them from then on (until a restart or `SCRIPT FLUSH`). */
const loaded = new WeakMap<RedisClient, Set<string>>()

/**
 * Runs a script by its SHA1. Its first run on a connection sends it whole (`EVAL`, which loads it), so a
 * script is never missing on a fresh Redis: an `EVALSHA` refused with `NOSCRIPT` and sent again after its
 * answer would land behind commands sent meanwhile, and the publishes of one node would take their
 * offsets out of order. Commands of one connection run in the order sent, so every `EVALSHA` sent after
 * that `EVAL` finds the script. Only a `SCRIPT FLUSH` on a live connection falls back to `EVAL` late.
 */
export async function runScript(
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
  const tail = [String(keys.length), ...keys, ...args]
  let sent = loaded.get(client)
  if (!sent) {
    sent = new Set()
    loaded.set(client, sent)
  }
  if (!sent.has(sha)) {
    sent.add(sha)
    return await client.sendCommand(["EVAL", script, ...tail])
  }
  try {
    return await client.sendCommand(["EVALSHA", sha, ...tail])
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error
    return await client.sendCommand(["EVAL", script, ...tail])
  }
}
