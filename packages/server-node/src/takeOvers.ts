import { createHash } from "node:crypto"
import type { NodeBus, NodeMessage } from "./broker/nodeBus.ts"
import type { ServerSessionSnapshot } from "./sessionSnapshot.ts"

/**
 * The asking side of a take-over (docs/scaling.md#take-over): a HELLO named a session this node does not
 * hold, so it asks the session's owner in the directory for it, waits for its snapshot within
 * `takeOverTimeoutMs` (and for this node to have joined), follows the session if it was handed on just
 * before, and tells the owner whether it adopted what came, for as long as the owner may ask again. The
 * handing-out side, and adopting itself, are the cluster's (`cluster.ts`).
 */

/** What a HELLO naming a session this node does not hold comes to. */
export type TakeOver = { readonly kind: "none" } | { readonly kind: "timeout" } | { readonly kind: "taken" }

/**
 * How long a node remembers where it handed a session, for take-overs that asked it too early, and what it
 * answered to a snapshot, for an owner that asks again (ms).
 */
export const HANDED_TO_MS = 10_000

/** How many times a take-over follows a session that was handed on before it asked. */
const MAX_HOPS = 2

/** The directory key of a token: a hash, so that the token itself never leaves the nodes' memory. */
export function directoryKey(token: string): string {
  return createHash("sha256").update(token).digest("base64url")
}

/** A take-over waiting for its snapshot. */
interface Asking {
  owner: string
  hops: number
  settle(snapshot?: ServerSessionSnapshot): boolean
}

/** The take-overs one node has asked for and not yet seen settled, by their rid. */
export class TakeOvers {
  private readonly waiting = new Map<number, Asking>()
  /** What this node answered to the snapshots it was sent lately, by its take-over's rid: adopted or not. */
  private readonly answered = new Map<number, boolean>()
  private rid = 0
  /** Settles once this node has joined: until then it knows no node alive, and could take over nothing. */
  private joined: Promise<void> = Promise.resolve()
  private isJoined = false

  constructor(
    private readonly nodes: NodeBus,
    private readonly limits: { readonly takeOverTimeoutMs: number },
    /** Adopts a snapshot `from` sent for the client whose HELLO carried `token`, if the token is the session's. */
    private readonly adopt: (snapshot: ServerSessionSnapshot, token: string, from: string) => boolean,
  ) {}

  /** The node is joining its cluster: take-overs wait for `joined`. */
  joining(joined: Promise<void>): void {
    this.joined = joined
    this.joined.then(
      () => {
        this.isJoined = true
      },
      () => {},
    )
  }

  /**
   * A HELLO named `token`, which this node does not hold: asks its owner, if a live one, to hand it over.
   * `done` is called once, the session in the table when `taken`.
   */
  ask(token: string, done: (outcome: TakeOver) => void): void {
    const key = directoryKey(token)
    this.whenJoined()
      .then(() => this.nodes.lookup(key))
      .then(
        (owner) => {
          if (owner === undefined || owner === this.nodes.nodeId || !this.nodes.alive(owner))
            return done({ kind: "none" })
          const rid = ++this.rid
          const timer = setTimeout(() => {
            // A snapshot that comes later is refused: its owner puts the session back, for the client's retry.
            this.waiting.delete(rid)
            done({ kind: "timeout" })
          }, this.limits.takeOverTimeoutMs)
          timer.unref()
          const asking: Asking = {
            owner,
            hops: 0,
            settle: (snapshot?: ServerSessionSnapshot) => {
              clearTimeout(timer)
              this.waiting.delete(rid)
              let adopted: boolean
              try {
                adopted = snapshot !== undefined && this.adopt(snapshot, token, asking.owner)
              } catch (error) {
                // A snapshot this node cannot restore (another shape, in a rolling upgrade): a new session,
                // not a HELLO left waiting; the bus reports the error.
                done({ kind: "none" })
                throw error
              }
              done(adopted ? { kind: "taken" } : { kind: "none" })
              return adopted
            },
          }
          this.waiting.set(rid, asking)
          // By key: the token itself never crosses the bus (a Redis client could read it there).
          this.nodes.send(owner, { t: "take", rid, key })
        },
        () => done({ kind: "timeout" }),
      )
  }

  /** The owner sent the session (`taken`): adopted if still waited for; the owner is told which, either way. */
  taken(from: string, m: NodeMessage): void {
    const snapshot = m.snapshot as unknown as ServerSessionSnapshot
    let adopted = false
    try {
      adopted = this.waiting.get(m.rid as number)?.settle(snapshot) === true
    } finally {
      // The node that handed it out keeps the session until it hears which (even when adopting threw).
      this.answer(from, snapshot.key, m.rid as number, adopted)
    }
  }

  /** The owner asks again (the answer may have been lost): none yet while the snapshot may still come in time. */
  askedAgain(from: string, m: NodeMessage): void {
    if (!this.waiting.has(m.rid as number)) this.answer(from, m.key as string, m.rid as number)
  }

  /** The owner holds no such session (`none`). */
  none(rid: number): void {
    this.waiting.get(rid)?.settle()
  }

  /** The node asked for a session had handed it on to `to`: ask there, at most twice. */
  follow(rid: number, key: string, to: string): void {
    const waiting = this.waiting.get(rid)
    if (!waiting) return
    if (waiting.hops >= MAX_HOPS || to === this.nodes.nodeId || !this.nodes.alive(to)) return void waiting.settle()
    waiting.hops++
    waiting.owner = to
    this.nodes.send(to, { t: "take", rid, key })
  }

  /** Node `node` is gone: what this node asked of it comes to nothing. */
  gone(node: string): void {
    for (const waiting of [...this.waiting.values()]) if (waiting.owner === node) waiting.settle()
  }

  /**
   * Settles once this node has joined, within `takeOverTimeoutMs`. A server attached to an HTTP server
   * serves before it joined (`listen()` waits), when it knows no node alive: its HELLOs wait instead.
   */
  private whenJoined(): Promise<void> {
    if (this.isJoined) return Promise.resolve()
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<void>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("the node has not joined its cluster yet")),
        this.limits.takeOverTimeoutMs,
      )
    })
    return Promise.race([this.joined, late]).finally(() => clearTimeout(timer))
  }

  /** Tells the node that handed a session out whether this one adopted it (`adopted`: now, else as told before). */
  private answer(to: string, key: string, rid: number, adopted = this.answered.get(rid) === true): void {
    if (!this.answered.has(rid)) setTimeout(() => this.answered.delete(rid), HANDED_TO_MS).unref()
    this.answered.set(rid, adopted)
    this.nodes.send(to, { t: adopted ? "adopted" : "refused", key, rid })
  }
}
