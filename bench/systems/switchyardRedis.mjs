// Switchyard across nodes: each server process takes `broker: redisBroker({ url })` from
// `@switchyard/redis` on the shared redis-server, so `server.topics.feed(key).publish(...)` on one node
// reaches the key's subscribers on every node. WebSocket only; subscribers are `switchyard.mjs`'s.
// Until @switchyard/redis is in the tree this adapter says so (`unavailable`) and the runner skips it.
import { createServer } from "@switchyard/server-node"
import { connectSubscriber, FeedContract } from "./switchyard.mjs"

export const name = "switchyard-redis"
export const label = "Switchyard + @switchyard/redis"
export { connectSubscriber }

// A variable specifier, so that nothing fails to load before the package exists.
const redisPackage = "@switchyard/redis"
const redis = await import(redisPackage).catch((error) => ({ error }))

/** Why this adapter cannot run here, or undefined when it can. */
export const unavailable = redis.error
  ? redis.error.code === "ERR_MODULE_NOT_FOUND"
    ? `${redisPackage} is not in this tree yet`
    : `${redisPackage} failed to load: ${String(redis.error.message).split("\n")[0]}`
  : undefined

/** One node of the fan-out, on the shared redis-server at `redisUrl`. */
export async function startFanoutServer(key, { redisUrl }) {
  if (unavailable) throw new Error(unavailable)
  const server = createServer(FeedContract, {}, { broker: redis.redisBroker({ url: redisUrl }) })
  const { url } = await server.listen(0, "127.0.0.1")
  const feed = server.topics.feed(key)
  return {
    url,
    subscribers: () => feed.subscribers,
    publish: (message) => feed.publish(message),
    close: () => server.close(),
  }
}
