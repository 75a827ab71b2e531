import { FrameType, type SessionSnapshot, type TransportId } from "@switchyard/core"
import type { Json, NodeMessage } from "./broker/nodeBus.ts"
import type { HeldSubscription, PendingPresence, PendingSubscribe } from "./subscriptions.ts"

/**
 * A session as one node hands it to another (docs/scaling.md#sessions-across-nodes): everything the new
 * owner needs to carry it on, as JSON. `auth` goes with it, so with a cluster it must be JSON too. The
 * token does not: it would cross the bus (Redis) in plain text. The new owner has it from its client's
 * HELLO, and adopts the snapshot only if that token hashes to `key`.
 */
export interface ServerSessionSnapshot {
  readonly id: string
  /** The directory key of the session: the SHA-256 of its token. */
  readonly key: string
  readonly peerId: string
  readonly auth: Json
  readonly transport: TransportId
  readonly session: SessionSnapshot
  /** Each subscription, and where it stood (with the session's presence data where it is a member). */
  readonly subscriptions: readonly HeldSubscription[]
  /** SUBSCRIBE requests not answered yet: the new owner runs them again, and answers them. */
  readonly subscribing: readonly PendingSubscribe[]
  /** PRESENCE requests not answered yet: the same (absent from a node that predates them). */
  readonly listing?: readonly PendingPresence[]
  /** The keys whose joins and leaves the session gets (docs/presence.md). */
  readonly watching?: ReadonlyArray<{ readonly topic: string; readonly key: string }>
  /** Calls and streams still running on some node (ghosts), whose frames the new owner sequences. */
  readonly ghosts: readonly GhostWork[]
}

/** A call, stream or client publication of a session running on a node that no longer owns it. */
export interface GhostWork {
  readonly id: number
  readonly node: string
  readonly stream: boolean
  /** A client's PUBLISH waiting for its policy or the broker. */
  readonly publish?: true
}

/** Frame types that settle a request: a ghost's call or stream is over once one of them went for its id. */
const terminal = new Set<number>([FrameType.RESULT, FrameType.ERROR, FrameType.END])

/** The id a RESULT, ERROR, ITEM or END body starts with. */
export function idOf(frameBody: string): number {
  return Number.parseInt(frameBody, 10)
}

/**
 * The calls and streams of a session still running on other nodes, as the session's owner sees them:
 * CANCEL and CREDIT for them go there, their frames come from there, and when a node dies its ones are
 * answered `SESSION_LOST`.
 */
export class RemoteWork {
  private readonly work = new Map<number, GhostWork>()

  constructor(
    private readonly key: string,
    private readonly send: (node: string, message: NodeMessage) => void,
  ) {}

  get size(): number {
    return this.work.size
  }

  add(ghost: GhostWork): void {
    this.work.set(ghost.id, ghost)
  }

  has(id: number): boolean {
    return this.work.has(id)
  }

  list(): GhostWork[] {
    return [...this.work.values()]
  }

  /** A ghost's frame arrived: a settling one ends its work. False when its work is not (or no longer) known. */
  arrived(type: number, frameBody: string): boolean {
    const id = idOf(frameBody)
    if (!this.work.has(id)) return false
    if (terminal.has(type)) this.work.delete(id)
    return true
  }

  cancel(id: number): void {
    const ghost = this.work.get(id)
    if (!ghost) return
    this.work.delete(id)
    this.send(ghost.node, { t: "ghost-cancel", key: this.key, id })
  }

  credit(id: number, credit: number): void {
    const ghost = this.work.get(id)
    if (ghost) this.send(ghost.node, { t: "ghost-credit", key: this.key, id, credit })
  }

  /** Node `node` is gone: its work is lost, and returned for the owner to answer. */
  lost(node: string): GhostWork[] {
    const lost = this.list().filter((ghost) => ghost.node === node)
    for (const ghost of lost) this.work.delete(ghost.id)
    return lost
  }

  /** The session ended: every node still running some of its work stops it. */
  abortAll(): void {
    for (const node of new Set(this.list().map((ghost) => ghost.node)))
      this.send(node, { t: "ghost-abort", key: this.key })
    this.work.clear()
  }
}

/** Whether a frame of this type settles its request. */
export function isTerminal(type: number): boolean {
  return terminal.has(type)
}
