import type { NodeBus, NodeMessage } from "./broker/nodeBus.ts"

/**
 * A ghost's frame from node `from`, as another node passes it on. The owner keys a ghost's latest-value
 * slots by the node that numbered them, which is the sender only until a node passes them on: an
 * unreliable item then names that node (`node`), so that it never shares a slot with the passer's own.
 */
export function passedOn(from: string, m: NodeMessage): NodeMessage {
  return m.t !== "ghost-latest" || m.node !== undefined ? m : { ...m, node: from }
}

/**
 * The moment a session's ghosts switch to its new owner (docs/scaling.md#sessions-across-nodes). When node
 * B hands on a session whose work runs on node A, B tells A the new owner C (`ghost-retarget`); A sends
 * there from then on and confirms to B (`ghost-retargeted`). Frames A sent before that reach B, which
 * passes them on to C, then tells C that A has switched (`ghost-switched`). C holds what A sends it
 * directly until then, so that a stream's items keep their order. Both sides last only until the
 * confirmation: nothing stays behind for a session handed on.
 */
export class GhostRoutes {
  /** Sessions handed on from here: where their ghosts' frames still in flight go, and who has not confirmed. */
  private readonly forwarding = new Map<string, { readonly to: string; readonly waiting: Set<string> }>()
  /** Sessions adopted here: frames ghost nodes sent directly, held until `via` passed on the earlier ones. */
  private readonly holding = new Map<string, { readonly via: string; readonly nodes: Map<string, NodeMessage[]> }>()

  constructor(
    private readonly nodes: NodeBus,
    /** Delivers a ghost's frame to the session it belongs to (no longer held). */
    private readonly deliver: (from: string, message: NodeMessage) => void,
  ) {}

  /** Switches not yet confirmed to this node: a node leaving waits for them. */
  get pending(): number {
    return this.forwarding.size
  }

  /** This node handed the session of `key` on to `to`; `ghostNodes` run work for it. */
  handedOn(key: string, to: string, ghostNodes: ReadonlySet<string>): void {
    const holding = this.holding.get(key)
    this.holding.delete(key)
    for (const [node, held] of holding?.nodes ?? []) for (const m of held) this.nodes.send(to, passedOn(node, m))
    if (ghostNodes.size === 0) return void this.forwarding.delete(key)
    this.forwarding.set(key, { to, waiting: new Set(ghostNodes) })
    for (const node of ghostNodes) this.nodes.send(node, { t: "ghost-retarget", key, to })
  }

  /** This node adopted the session of `key` from `via`; `ghostNodes` (other than `via`) run work for it. */
  adopted(key: string, via: string, ghostNodes: ReadonlySet<string>): void {
    const nodes = new Map([...ghostNodes].filter((node) => node !== via).map((node) => [node, [] as NodeMessage[]]))
    if (nodes.size > 0) this.holding.set(key, { via, nodes })
    else this.holding.delete(key)
  }

  /** A ghost's frame for a session owned here: true when it is held for now. */
  hold(from: string, m: NodeMessage): boolean {
    const held = this.holding.get(m.key as string)?.nodes.get(from)
    if (held) held.push(m)
    return held !== undefined
  }

  /** A ghost's frame for a session not owned here: passed on when it was handed on and not yet switched. */
  forward(m: NodeMessage): void {
    const forwarding = this.forwarding.get(m.key as string)
    if (forwarding) this.nodes.send(forwarding.to, m)
  }

  /** Ghost node `from` sends the session of `key` to its new owner now: what it sent here before went on. */
  retargeted(from: string, key: string): void {
    const forwarding = this.forwarding.get(key)
    if (!forwarding?.waiting.delete(from)) return
    this.nodes.send(forwarding.to, { t: "ghost-switched", key, node: from })
    if (forwarding.waiting.size === 0) this.forwarding.delete(key)
  }

  /** Everything ghost node `node` sent for `key` before switching is in: what it sent directly follows. */
  switched(key: string, node: string): void {
    const holding = this.holding.get(key)
    const held = holding?.nodes.get(node)
    if (!holding || !held) return
    holding.nodes.delete(node)
    if (holding.nodes.size === 0) this.holding.delete(key)
    for (const m of held) this.deliver(node, m)
  }

  /**
   * Node `gone` is gone. Returns the ghost nodes whose frames for a session may have been lost with it
   * (it was passing them on here): their work for that session is to be answered `SESSION_LOST`.
   */
  gone(gone: string): Array<{ readonly key: string; readonly node: string }> {
    for (const [key, forwarding] of [...this.forwarding]) {
      if (forwarding.to === gone) this.forwarding.delete(key)
      else if (forwarding.waiting.has(gone)) this.retargeted(gone, key)
    }
    const lost: Array<{ key: string; node: string }> = []
    for (const [key, holding] of [...this.holding]) {
      if (holding.via === gone) {
        this.holding.delete(key)
        for (const node of holding.nodes.keys()) lost.push({ key, node })
      } else if (holding.nodes.has(gone)) this.switched(key, gone)
    }
    return lost
  }
}
