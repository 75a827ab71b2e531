import type { TransportId } from "../transport/types.ts"
import { hasFailed, type TransportMemory } from "./transportMemory.ts"

/**
 * Transport negotiation as pure functions (docs/negotiation.md): the ranking that decides where a session
 * starts, what it probes to move up to, and where it falls back to, from what the server offers and what
 * the client remembers (transportMemory.ts). The client's connection does the I/O; everything it decides
 * comes from here.
 */

/**
 * Every transport, best first, as docs/negotiation.md ranks them.
 *
 * @deprecated Unused: the ranking comes from the client's `transports` option or the server's offer.
 */
export const defaultLadder: readonly TransportId[] = ["webrtc", "websocket", "sse", "long-polling", "polling"]

/**
 * Most likely to connect at once, first: where a session starts when nothing is remembered. Plain
 * requests pass nearly every network; a held request, a stream and an upgrade each fail on some. WebRTC
 * needs a session to signal over, so it is never a start.
 */
const startOrder: readonly TransportId[] = ["long-polling", "polling", "sse", "websocket", "memory"]

export interface PlanInput {
  /** What this client can run, in its order (its `transports` option). */
  readonly supported: readonly TransportId[]
  /** The server's offer, in its order; `undefined` while unknown (every supported one is assumed). */
  readonly offer?: readonly TransportId[] | undefined
  /** Whose order ranks: the client's when it listed `transports` itself, else the server's. */
  readonly prefer: "client" | "server"
  readonly memory: TransportMemory
  readonly now: number
}

export interface Plan {
  /** Every usable transport, best first (remembered failures included: they are still a last resort). */
  readonly ladder: readonly TransportId[]
  /** Where to open the session. `undefined` when client and server share no transport. */
  readonly start: TransportId | undefined
  /** Transports ranked above `start` and not known to fail, best first: probe these once connected. */
  readonly upgrades: readonly TransportId[]
}

/** Ranks the transports client and server share, and picks where to start. */
export function plan(input: PlanInput): Plan {
  const ladder = rank(input)
  const usable = ladder.filter((id) => !hasFailed(input.memory, id, input.now))
  const worked = input.memory.worked?.id
  let start: TransportId | undefined
  if (worked !== undefined && worked !== "webrtc" && usable.includes(worked)) start = worked
  else start = startOrder.find((id) => usable.includes(id))
  // Everything failed: memory is only advice, so start where a fresh client would.
  start ??= startOrder.find((id) => ladder.includes(id))
  const rankOfStart = start === undefined ? 0 : ladder.indexOf(start)
  const upgrades = usable.filter((id) => ladder.indexOf(id) < rankOfStart)
  return { ladder, start, upgrades }
}

/**
 * Where a session goes when `current` fails: the best transport below it not known to fail; when there
 * is none, the best one not known to fail at all; when every one is known to fail, the one below
 * `current` (or the top again), because trying something beats giving up.
 */
export function fallback(
  ladder: readonly TransportId[],
  current: TransportId,
  input: Pick<PlanInput, "memory" | "now">,
): TransportId | undefined {
  const openers: TransportId[] = ladder.filter((id) => id !== "webrtc")
  if (openers.length === 0) return undefined
  const usable = (id: TransportId) => !hasFailed(input.memory, id, input.now)
  const at = openers.indexOf(current)
  const below = openers.slice(at + 1)
  return (
    below.find(usable) ??
    openers.find((id) => id !== current && usable(id)) ??
    below[0] ??
    openers.find((id) => id !== current) ??
    current
  )
}

function rank(input: PlanInput): TransportId[] {
  const supported = dedupe(input.supported)
  if (input.offer === undefined) return supported
  const offered = dedupe(input.offer)
  if (input.prefer === "client") return supported.filter((id) => offered.includes(id))
  return offered.filter((id) => supported.includes(id))
}

function dedupe(ids: readonly TransportId[]): TransportId[] {
  return [...new Set(ids)]
}
