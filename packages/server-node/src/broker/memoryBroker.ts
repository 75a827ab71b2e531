import type { Broker, BrokerNode } from "./broker.ts"
import { MemoryTopics } from "./memoryTopics.ts"
import type { TopicBus } from "./topicBus.ts"

/** Several servers in one process that share topics: each `createServer` gets `cluster.broker()`. */
export interface MemoryCluster {
  /** A broker for one more server of the cluster. */
  broker(): Broker
}

/**
 * A cluster inside one process: every broker it gives shares topics (offsets, history, delivery) with
 * the others. For tests and for running several servers in one process; real nodes use a broker on a
 * shared engine (`redisBroker()` of `@switchyard/redis`).
 *
 * @example
 * const cluster = memoryCluster()
 * const a = createServer(Chat, handlers, { broker: cluster.broker() })
 * const b = createServer(Chat, handlers, { broker: cluster.broker() })
 * a.topics.room("lobby").publish(message) // reaches subscribers on a and on b
 */
export function memoryCluster(): MemoryCluster {
  const topics = new MemoryTopics()
  return { broker: () => memoryNode(topics) }
}

/**
 * The default broker: one node on its own, everything in its memory, nothing shared. Delivery is
 * synchronous, exactly as without a broker.
 */
export function memoryBroker(): Broker {
  return memoryNode(new MemoryTopics())
}

function memoryNode(shared: MemoryTopics): Broker {
  let bus: TopicBus | undefined
  return {
    name: "memory",
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
