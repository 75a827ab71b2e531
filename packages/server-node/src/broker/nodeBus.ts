/**
 * What the nodes of a cluster tell each other about sessions (docs/scaling.md#sessions-across-nodes):
 * messages from one node to another, the session directory (which node owns a session) and node
 * liveness. The lead folds it into the broker as `Broker.nodes`; `memoryNodes()` is the in-process one,
 * `@switchyard/redis` the one over Redis.
 */
export interface NodeBus {
  /**
   * This node's id, unique in the cluster: letters, digits, `-` and `_` only, as it starts the id of
   * every HTTP link this node holds (`<nodeId>.<random>`), so that another node can relay a request there.
   */
  readonly nodeId: string
  /**
   * Joins the cluster: from now on `receive` gets each message sent to this node (in the order each
   * sender sent them), and other nodes see this one alive.
   */
  start(receive: (from: string, message: NodeMessage) => void): Promise<void>
  /**
   * Sends a message to node `to`: delivered once, in order per sender→receiver, or dropped when `to` is
   * not alive. JSON only.
   */
  send(to: string, message: NodeMessage): void
  /** Records this node as the owner of the session of `key` (a hash of its token, never the token). */
  claim(key: string): Promise<void>
  /** The node that last claimed `key`, alive or not; `undefined` when none did (or it was released). */
  lookup(key: string): Promise<string | undefined>
  /** Forgets the owner of `key`, if it is still this node (another may have claimed it since). */
  release(key: string): Promise<void>
  /** Whether node `nodeId` is alive, as this node last heard. */
  alive(nodeId: string): boolean
  /**
   * Calls `listener` when what this node shared with node `nodeId` is gone: `"gone"` when it died (its
   * liveness lapsed), left (`close()`) or was replaced by a new process under its id; `"lost"` when it is
   * alive but messages between the two were lost (a Redis outage), so whatever was in flight between them
   * ends on both sides. Returns a function that removes the listener.
   */
  onNodeGone(listener: (nodeId: string, why: NodeGone) => void): () => void
  /** Leaves the cluster (messages already sent are still delivered); other nodes see this node gone. */
  close(): Promise<void>
}

/** Why `onNodeGone` is called: the node itself is gone, or only messages between the two were lost. */
export type NodeGone = "gone" | "lost"

/** A JSON value: what node messages are made of. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json }

/** A message between nodes: `t` says which, the rest is JSON (`handOver.ts` and `httpRelay.ts` define them). */
export interface NodeMessage {
  readonly t: string
  readonly [field: string]: Json | undefined
}
