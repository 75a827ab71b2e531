import type { NodeMessage } from "./broker/nodeBus.ts"
import type { ServerSession } from "./serverSession.ts"
import type { ServerSessionSnapshot } from "./sessionSnapshot.ts"

/**
 * A session handed to another node that has not answered yet: what it takes to put it back. It waits for
 * that node's answer ("adopted" or "refused") or for that node to be gone, and asks again every
 * `takeOverTimeoutMs` (an answer lost on the way), never putting it back on a timer: the new owner alone
 * decides (by its own take-over deadline), so that the session is never held by both, however late the
 * answer comes (a starved event loop on either side).
 */
export interface HandOut {
  readonly key: string
  readonly to: string
  /** The take-over it answers: a node that asks again gets a new hand-out, which the old one's answer is not for. */
  readonly rid: number
  /** The session as this node held it (its token, its count of sessions per address until confirmed). */
  readonly session: ServerSession
  readonly snapshot: ServerSessionSnapshot
  /** The other nodes running work for the session, told of the new owner once it confirmed. */
  readonly ghostNodes: ReadonlySet<string>
  /** Ghost frames that came for the session meanwhile, and take-overs other nodes asked for. */
  readonly limbo: Array<readonly [string, NodeMessage]>
  readonly askers: Array<readonly [string, number]>
  timer?: ReturnType<typeof setInterval>
}
