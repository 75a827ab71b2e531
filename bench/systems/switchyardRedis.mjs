// Switchyard across nodes: each server process takes `broker: redisBroker({ url })` from
// `@switchyard/redis` on the shared redis-server, so `server.topics.feed(key).publish(...)` on one node
// reaches the key's subscribers on every node. WebSocket only; subscribers are `switchyard.mjs`'s.
import { redisBroker } from "@switchyard/redis"
import { createServer } from "@switchyard/server-node"
import { connectSubscriber, FeedContract } from "./switchyard.mjs"

export const name = "switchyard-redis"
export const label = "Switchyard + @switchyard/redis"
export { connectSubscriber }

/** One node of the fan-out, on the shared redis-server at `redisUrl`. */
export async function startFanoutServer(key, { redisUrl }) {
  const server = createServer(FeedContract, {}, { broker: redisBroker({ url: redisUrl }) })
  const { url } = await server.listen(0, "127.0.0.1")
  const feed = server.topics.feed(key)
  return {
    url,
    subscribers: () => feed.subscribers,
    publish: (message) => feed.publish(message),
    close: () => server.close(),
  }
}
