import type { NegotiationTraits, TransportId } from "../transport/types.ts"
import { hasFailed, type TransportMemory } from "./transportMemory.ts"

/**
 * Transport negotiation as pure functions (docs/negotiation.md): the ranking that decides where a session
 * starts, what it probes to move up to, and where it falls back to, from what the server offers and what
 * the client remembers (transportMemory.ts). The client's connection does the I/O; everything it decides
 * comes from here. What they know of each transport is what it declares (`NegotiationTraits`: where it
 * ranks as a start, whether it is signalled), never its id.
 */

export interface PlanInput {
  /** What this client can run, in its order (its `transports` option): the transports, or their traits. */
  readonly supported: readonly NegotiationTraits[]
  /** The server's offer, in its order; `undefined` while unknown (every supported one is assumed). */
  readonly offer?: readonly TransportId[] | undefined
  /** Whose order ranks: the client's when it listed `transports` itself, else the server's. */
  readonly prefer: "client" | "server"
  readonly memory: TransportMemory
  readonly now: number
}

/** What `plan` decided: the transports in order, where to start, and which to probe later. */
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
  const traits = new Map(input.supported.map((t) => [t.id, t]))
  const startRank = (id: TransportId) => traits.get(id)?.startRank ?? Number.MAX_SAFE_INTEGER
  const ladder = rank(input)
  const usable = ladder.filter((id) => !hasFailed(input.memory, id, input.now))
  // Most likely to connect at once first (ties in ladder order); a signalled transport needs a session
  // to signal over, so it is never a start.
  const starts = (ids: readonly TransportId[]) =>
    ids.filter((id) => traits.get(id)?.signalled !== true).sort((a, b) => startRank(a) - startRank(b))
  const worked = input.memory.worked?.id
  let start: TransportId | undefined
  if (worked !== undefined && traits.get(worked)?.signalled !== true && usable.includes(worked)) start = worked
  else start = starts(usable)[0]
  // Everything failed: memory is only advice, so start where a fresh client would.
  start ??= starts(ladder)[0]
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
  ladder: readonly NegotiationTraits[],
  current: TransportId,
  input: Pick<PlanInput, "memory" | "now">,
): TransportId | undefined {
  const openers: TransportId[] = ladder.filter((t) => t.signalled !== true).map((t) => t.id)
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
  const supported = dedupe(input.supported.map((t) => t.id))
  if (input.offer === undefined) return supported
  const offered = dedupe(input.offer)
  if (input.prefer === "client") return supported.filter((id) => offered.includes(id))
  return offered.filter((id) => supported.includes(id))
}

function dedupe(ids: readonly TransportId[]): TransportId[] {
  return [...new Set(ids)]
}
