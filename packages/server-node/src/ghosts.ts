import { body, FrameType } from "@switchyard/core"
import type { NodeBus, NodeMessage } from "./broker/nodeBus.ts"
import type { GhostOutlet, ServerSession } from "./serverSession.ts"
import { isTerminal } from "./sessionSnapshot.ts"

/** A session's work left running on this node after its hand-over, and the owner its frames go to. */
interface Ghost {
  readonly session: ServerSession
  target: string
  /** Frames kept here until the new owner confirmed it has the session (`confirm`), or it came back. */
  held: NodeMessage[] | undefined
}

/**
 * The ghosts of one node (docs/scaling.md#sessions-across-nodes): calls and streams of sessions this node
 * handed over, still running here. Their frames go straight to the session's owner; when the session moves
 * on, the node that handed it on names the new owner (`ghost-retarget`), so that no node in between has to
 * stay up for them. When the owner is gone without naming another, the directory is asked who holds the
 * session now, and that node is sent `SESSION_LOST` for each of them.
 */
export class Ghosts {
  private readonly ghosts = new Map<string, Ghost[]>()
  /**
   * Numbers the latest-value slots of every ghost of this node. The owner keys slots by (node, number):
   * numbered per ghost, two ghosts of one session here (moved away, back, and away again) would share
   * slots, and one stream's items would overwrite another's.
   */
  private slots = 0

  constructor(private readonly nodes: NodeBus) {}

  /** Ghosts still running. */
  get count(): number {
    let count = 0
    for (const list of this.ghosts.values()) count += list.length
    return count
  }

  /**
   * Hands `session` (directory key `key`) to node `target`: `handOver` gets the outlet its work sends
   * through, and the session is kept as a ghost while it has work running.
   */
  leave<T>(key: string, session: ServerSession, target: string, handOver: (outlet: GhostOutlet) => T): T {
    const ghost: Ghost = { session, target, held: [] }
    const send = (m: NodeMessage) => (ghost.held ? ghost.held.push(m) : this.nodes.send(ghost.target, m))
    const slots = new WeakMap<object, number>()
    const handed = handOver({
      frame: (type, frameBody) => {
        send({ t: "ghost-frame", key, type, body: frameBody })
        if (isTerminal(type)) this.idle(key, ghost)
      },
      latest: (slot, frame) => {
        let n = slots.get(slot)
        if (n === undefined) {
          n = ++this.slots
          slots.set(slot, n)
        }
        send({ t: "ghost-latest", key, slot: n, frame })
      },
    })
    if (session.running > 0) this.ghosts.set(key, [...(this.ghosts.get(key) ?? []), ghost])
    else ghost.held = undefined
    return handed
  }

  /** The session of `key` moved on to `to` (or came back here): its ghosts here send there from now on. */
  retarget(key: string, to: string): void {
    for (const ghost of this.ghosts.get(key) ?? []) {
      ghost.target = to
      this.flush(key, ghost)
    }
  }

  /** The node the session of `key` was handed to has it: what its ghosts kept meanwhile goes there. */
  confirm(key: string): void {
    for (const ghost of this.ghosts.get(key) ?? []) this.flush(key, ghost)
  }

  private flush(key: string, ghost: Ghost): void {
    const held = ghost.held
    ghost.held = undefined
    for (const m of held ?? []) this.nodes.send(ghost.target, m)
    this.idle(key, ghost)
  }

  /** The owner forwarded a CANCEL or CREDIT for a ghost's work, or ended the session (`ghost-abort`). */
  control(m: NodeMessage): void {
    const key = m.key as string
    for (const ghost of this.ghosts.get(key) ?? []) {
      if (m.t === "ghost-abort") ghost.session.ghostAbort()
      else if (m.t === "ghost-cancel") ghost.session.ghostCancel(m.id as number)
      else ghost.session.ghostCredit(m.id as number, m.credit as number)
      this.idle(key, ghost)
    }
  }

  /**
   * Node `node` is gone: ghosts that sent there stop, and whichever node owns their session now (the
   * directory says) answers their requests `SESSION_LOST`, rather than waiting for them forever.
   */
  gone(node: string): void {
    for (const [key, list] of [...this.ghosts]) {
      const orphans = list.filter((ghost) => ghost.target === node)
      if (orphans.length === 0) continue
      const lost = orphans.flatMap((ghost) => ghost.session.abandon())
      this.drop(key, orphans)
      this.nodes.lookup(key).then(
        (owner) => {
          if (owner === undefined || !this.nodes.alive(owner)) return
          for (const { id, stream, publish } of lost) {
            const why = stream
              ? "the stream ended early"
              : publish
                ? "it may or may not have been published"
                : "it may or may not have run"
            const frameBody = body.error(id, "SESSION_LOST", `the session moved while this ran: ${why}`)
            this.nodes.send(owner, { t: "ghost-frame", key, type: FrameType.ERROR, body: frameBody })
          }
        },
        () => {},
      )
    }
  }

  /** The node leaves and its grace period is over: what still runs stops (the owner hears it is gone). */
  abortAll(): void {
    for (const list of this.ghosts.values()) for (const ghost of list) ghost.session.ghostAbort()
    this.ghosts.clear()
  }

  /** A ghost with nothing left running is dropped. */
  private idle(key: string, ghost: Ghost): void {
    if (ghost.session.running === 0 && !ghost.held?.length) this.drop(key, [ghost])
  }

  private drop(key: string, gone: readonly Ghost[]): void {
    const rest = (this.ghosts.get(key) ?? []).filter((ghost) => !gone.includes(ghost))
    if (rest.length > 0) this.ghosts.set(key, rest)
    else this.ghosts.delete(key)
  }
}
