import type { NodeBus, NodeGone, NodeMessage } from "./nodeBus.ts"

/**
 * Node messages, a session directory and liveness for several servers in one process: each server gets
 * `cluster.nodes()`, and they behave as the nodes of a cluster (tests, demos). Messages go through JSON
 * and arrive on a later turn of the event loop, as over a network.
 *
 * @example
 * ```ts
 * const cluster = memoryNodes()
 * const a = cluster.nodes("a") // the NodeBus of a node "a"
 * const b = cluster.nodes("b")
 * cluster.kill("a") // as if its process died: no goodbye, its messages lost
 * ```
 */
export function memoryNodes(): MemoryNodeCluster {
  return new MemoryNodeCluster()
}

/** The state the nodes of one in-process cluster share. */
export class MemoryNodeCluster {
  /** Who owns each session key. */
  readonly directory = new Map<string, string>()
  private readonly members = new Map<string, MemoryNode>()
  private count = 0

  /**
   * A new node of this cluster (`id` defaults to `node-1`, `node-2`, …): letters, digits, `-` and `_`, as
   * on Redis, since it starts the id of each HTTP link the node holds (`<nodeId>.<random>`, cut at the
   * first `.` to relay a request there).
   */
  nodes(id = `node-${++this.count}`): NodeBus {
    if (!/^[A-Za-z0-9_-]+$/.test(id))
      throw new Error(
        `a node id is letters, digits, - and _ (it starts each HTTP link id, before a "."): ${JSON.stringify(id)}`,
      )
    return new MemoryNode(this, id)
  }

  /** The nodes alive now. */
  get alive(): string[] {
    return [...this.members.keys()]
  }

  /**
   * Makes node `nodeId` die abruptly: what it sends or is sent from now on is lost, and the other nodes
   * are told it is gone, as when its liveness lapses. The server itself is left running, cut off (the test
   * cuts its sockets).
   */
  kill(nodeId: string): void {
    const node = this.members.get(nodeId)
    if (!node) return
    node.dead = true
    for (const other of this.members.values()) other.purge(nodeId)
    this.leave(node)
  }

  /** @internal */
  join(node: MemoryNode): void {
    this.members.set(node.nodeId, node)
  }

  /** @internal */
  leave(node: MemoryNode): void {
    if (this.members.get(node.nodeId) !== node) return
    this.members.delete(node.nodeId)
    // After whatever it sent: a node's messages arrive before the news that it is gone.
    for (const other of this.members.values()) other.enqueue(node.nodeId, null)
  }

  /** @internal */
  member(nodeId: string): MemoryNode | undefined {
    return this.members.get(nodeId)
  }
}

class MemoryNode implements NodeBus {
  dead = false
  private receive: ((from: string, message: NodeMessage) => void) | undefined
  private readonly listeners = new Set<(nodeId: string, why: NodeGone) => void>()
  /** Messages for this node not yet delivered, in the order they were sent. */
  private inbox: Array<[string, string | null]> = []
  private scheduled = false

  constructor(
    private readonly cluster: MemoryNodeCluster,
    readonly nodeId: string,
  ) {}

  async start(receive: (from: string, message: NodeMessage) => void): Promise<void> {
    this.receive = receive
    this.cluster.join(this)
  }

  send(to: string, message: NodeMessage): void {
    if (this.dead) return
    this.cluster.member(to)?.enqueue(this.nodeId, JSON.stringify(message))
  }

  /** A message from `from`, or (`null`) the news that `from` is gone. */
  enqueue(from: string, text: string | null): void {
    this.inbox.push([from, text])
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.deliver())
  }

  /** Drops what `from` sent that is not delivered yet (it died with the messages on the wire). */
  purge(from: string): void {
    this.inbox = this.inbox.filter(([sender]) => sender !== from)
  }

  private deliver(): void {
    this.scheduled = false
    const inbox = this.inbox
    this.inbox = []
    for (const [from, text] of inbox) {
      if (this.dead) return
      if (text === null) for (const listener of [...this.listeners]) listener(from, "gone")
      else this.receive?.(from, JSON.parse(text) as NodeMessage)
    }
  }

  async claim(key: string): Promise<void> {
    if (!this.dead) this.cluster.directory.set(key, this.nodeId)
  }

  async lookup(key: string): Promise<string | undefined> {
    return this.cluster.directory.get(key)
  }

  async release(key: string): Promise<void> {
    if (this.cluster.directory.get(key) === this.nodeId) this.cluster.directory.delete(key)
  }

  alive(nodeId: string): boolean {
    return this.cluster.member(nodeId) !== undefined
  }

  onNodeGone(listener: (nodeId: string, why: NodeGone) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    // Messages already sent by this node are in their receivers' inboxes: they are still delivered.
    this.cluster.leave(this)
  }
}
