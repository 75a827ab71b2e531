import type { Broker, BrokerNode } from "./broker.ts"
import { MemoryNodeCluster } from "./memoryNodes.ts"
import { type MemoryPresence, memoryPresence } from "./memoryPresence.ts"
import { MemoryTopics } from "./memoryTopics.ts"
import type { NodeBus } from "./nodeBus.ts"
import type { PresenceBus } from "./presenceBus.ts"
import type { TopicBus } from "./topicBus.ts"

/**
 * Several servers in one process that behave as the nodes of a cluster: each `createServer` gets
 * `cluster.broker()`.
 */
export interface MemoryCluster {
  /** A broker for one more node of the cluster; `id` (default `node-1`, `node-2`, …) is its node id. */
  broker(id?: string): Broker
  /**
   * The node messages, directory and liveness the nodes share (`kill(id)`: a node dies abruptly, and its
   * presence entries are removed as the others hear it is gone).
   */
  readonly nodes: MemoryNodeCluster
  /** The presence the nodes share. */
  readonly presence: MemoryPresence
}

/**
 * A cluster inside one process: every broker it gives shares topics (offsets, history, delivery), node
 * messages, the session directory and liveness with the others, so sessions move between its servers
 * and HTTP requests are relayed as between real nodes. For tests and for running several servers in one
 * process; real nodes use a broker on a shared engine (`redisBroker()` of `@switchyard/redis`).
 *
 * @example
 * ```ts
 * const cluster = memoryCluster()
 * const a = createServer(Chat, handlers, { broker: cluster.broker() })
 * const b = createServer(Chat, handlers, { broker: cluster.broker() })
 * a.topics.room("lobby").publish({ user: "server", text: "hello", at: new Date() }) // reaches subscribers on a and on b
 * ```
 */
export function memoryCluster(): MemoryCluster {
  const topics = new MemoryTopics()
  const nodes = new MemoryNodeCluster()
  const presence = memoryPresence()
  return {
    nodes,
    presence,
    broker(id) {
      const bus = nodes.nodes(id)
      return memoryNode(topics, presence.node(bus.nodeId, bus), bus)
    },
  }
}

/**
 * The default broker: one node on its own, everything in its memory, nothing shared. Delivery is
 * synchronous, exactly as without a broker.
 *
 * @example
 * ```ts
 * import { createServer, memoryBroker } from "@switchyard/server-node"
 *
 * const server = createServer(Chat, handlers, { broker: memoryBroker() }) // the same as no broker
 * ```
 */
export function memoryBroker(): Broker {
  return memoryNode(new MemoryTopics(), memoryPresence().node())
}

function memoryNode(shared: MemoryTopics, presence: PresenceBus, nodes?: NodeBus): Broker {
  let bus: TopicBus | undefined
  return {
    name: "memory",
    ...(nodes && { nodes }),
    presence,
    start(node: BrokerNode) {
      bus = shared.bus(node.topics)
    },
    get topics(): TopicBus {
      if (!bus) throw new Error("the broker was not started: pass it to createServer")
      return bus
    },
    close: () => Promise.resolve(),
  }
}
