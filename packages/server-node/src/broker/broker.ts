import type { NodeBus } from "./nodeBus.ts"
import type { PresenceBus } from "./presenceBus.ts"
import type { TopicBus, TopicSink } from "./topicBus.ts"

/** A change in a broker's connection to what it shares with other nodes, for `server.on("broker", …)`. */
export interface BrokerEvent {
  /** `"down"`: the broker lost its engine (topics from other nodes stop, publishing fails); `"up"`: back. */
  readonly state: "up" | "down"
  /** The broker's name (`"memory"`, `"redis"`). */
  readonly broker: string
  /** Why, for people: `"PING timed out after 2000 ms"`, `"connection closed"`, `"connected"`. */
  readonly reason: string
  /** On `"up"` after a `"down"`: how long it was down, in ms. */
  readonly downMs?: number
}

/** What a server gives its broker when it starts. */
export interface BrokerNode {
  /** This node's id: random, made by each server. */
  readonly id: string
  /** Where the broker delivers topic publications (the server's topic registry). */
  readonly topics: TopicSink
  /** The broker's engine went down or came back. The server logs one line and tells `server.on("broker")`. */
  status(event: BrokerEvent): void
  /**
   * Something the broker received could not be handled (a node message refused or failing): the server
   * reports it to its `onError`. The broker goes on.
   */
  report(error: unknown): void
}

/**
 * What a node shares with the other nodes of a cluster: topics (`topics`) and sessions (`nodes`), see
 * `docs/scaling.md`. One
 * broker serves one server: `createServer(contract, handlers, { broker })`. The default,
 * `memoryBroker()`, is private to its server; `memoryCluster().broker()` and `redisBroker()` of
 * `@switchyard/redis` share topics between servers.
 */
export interface Broker {
  /** For logs and events: `"memory"`, `"redis"`. */
  readonly name: string
  /** Called once by the server that owns this broker, before any other use. */
  start(node: BrokerNode): void
  /** Topics across nodes; usable once `start` was called. */
  readonly topics: TopicBus
  /**
   * Node messages, the session directory and node liveness (docs/scaling.md#sessions-across-nodes): with
   * it, sessions move between nodes and HTTP requests are relayed to the node holding their link. Absent
   * on a broker of one node (`memoryBroker()`): the server is then alone, as before.
   */
  readonly nodes?: NodeBus
  /**
   * Who is subscribed to each key of the topics that declare presence, on every node
   * (docs/presence.md); usable once `start` was called. A broker with `nodes` removes the entries of a
   * node that is gone (its `onNodeGone`).
   */
  readonly presence: PresenceBus
  /** Leaves the cluster: stops delivering, closes connections. Called by `server.close()`. */
  close(): Promise<void>
}
