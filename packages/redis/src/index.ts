import { randomUUID } from "node:crypto"
import type { Broker, BrokerNode, TopicBus } from "@switchyard/server-node"
import { type ConnectionOptions, RedisConnections } from "./connection.ts"
import { RedisNodes } from "./nodes.ts"
import { RedisPresence } from "./presence.ts"
import { RedisTopics } from "./topics.ts"

export {
  type ConnectionOptions,
  type ConnectionsListener,
  type RedisClient,
  RedisConnection,
  RedisConnections,
  type StateListener,
  unavailable,
  within,
} from "./connection.ts"
export { type NodeCounts, type NodeTimings, RedisNodes } from "./nodes.ts"
export { NODE_PROTOCOL, NodeMessageError } from "./nodeWire.ts"
export { RedisPresence } from "./presence.ts"
export { RedisTopics, type TopicTimings } from "./topics.ts"

/** Options of `redisBroker`. */
export interface RedisBrokerOptions extends ConnectionOptions {
  /** `redis://[[user]:password@]host[:port][/db]`. */
  readonly url: string
  /** Put before every Redis key and channel of this cluster, so that several share one Redis. Default `"switchyard:"`. */
  readonly keyPrefix?: string
  /**
   * How long a publish (and a new subscription) waits for a Redis that is down before it fails with
   * `BROKER_UNAVAILABLE`. Default 2000 ms.
   */
  readonly unavailableAfterMs?: number
  /** How long a topic key's epoch and newest offset stay in Redis after its last use. Default 24 hours. */
  readonly topicMetaTtlMs?: number
  /** This node's id in the cluster (letters, digits, `-`, `_`). Default `node-` and 8 random hex digits. */
  readonly nodeId?: string
  /**
   * TTL of a node's liveness key in Redis, refreshed every fifth of it: a node killed without `close()`
   * is gone for the others within `nodeTtlMs` and a fifth. Default 5000 ms (gone within 6 s).
   */
  readonly nodeTtlMs?: number
  /**
   * TTL of a session's entry in the directory (which node owns it), refreshed every third of it while
   * its owner lives: keep it above the sessions' resume window. Default 5 minutes.
   */
  readonly sessionOwnerTtlMs?: number
}

/**
 * A broker on Redis: topics across every node of the cluster that uses the same Redis and `keyPrefix`,
 * with their history in Redis Streams (docs/scaling.md). Each node holds two connections, watched by a
 * PING every second and made again when lost; `server.on("broker", …)` hears when Redis goes and comes
 * back. While Redis is down a node keeps serving its clients' calls and streams; publishes fail with
 * `BROKER_UNAVAILABLE` after `unavailableAfterMs`.
 *
 * @example
 * ```ts
 * import { redisBroker } from "@switchyard/redis"
 * import { createServer } from "@switchyard/server-node"
 *
 * const server = createServer(Chat, handlers, { broker: redisBroker({ url: "redis://127.0.0.1:6379" }) })
 * server.on("broker", (event) => console.log(event.state, event.reason))
 * ```
 */
export function redisBroker(options: RedisBrokerOptions): Broker {
  const { url, keyPrefix = "switchyard:", unavailableAfterMs = 2000, topicMetaTtlMs = 24 * 3_600_000 } = options
  const connections = new RedisConnections(url, options)
  const nodes = new RedisNodes(connections, options.nodeId ?? `node-${randomUUID().slice(0, 8)}`, keyPrefix, {
    unavailableAfterMs,
    nodeTtlMs: options.nodeTtlMs ?? 5000,
    ownerTtlMs: options.sessionOwnerTtlMs ?? 300_000,
  })
  // A gone node's members are swept as soon as this node hears it is gone (docs/presence.md#across-nodes).
  const presence = new RedisPresence(connections, nodes.nodeId, keyPrefix, unavailableAfterMs, nodes)
  let topics: RedisTopics | undefined
  return {
    name: "redis",
    nodes,
    presence,
    start(node: BrokerNode) {
      nodes.onError((error) => node.report(error))
      connections.onState(({ up, reason, downMs }) =>
        node.status(
          downMs === undefined
            ? { state: up ? "up" : "down", broker: "redis", reason }
            : { state: up ? "up" : "down", broker: "redis", reason, downMs },
        ),
      )
      topics = new RedisTopics(connections, node.topics, node.id, keyPrefix, {
        unavailableAfterMs,
        metaTtlMs: topicMetaTtlMs,
      })
      connections.start()
    },
    get topics(): TopicBus {
      if (!topics) throw new Error("the broker was not started: pass it to createServer")
      return topics
    },
    async close() {
      presence.close()
      await nodes.close()
      topics?.close()
      await connections.close()
    },
  }
}
