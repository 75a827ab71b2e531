import type { SessionLimits } from "./protocol/frames.ts"
import type { TransportId } from "./transport.ts"

/**
 * Transport negotiation as pure functions (docs/negotiation.md): what a server offers, what a client
 * remembers, and the ranking that decides where a session starts, what it probes to move up to, and
 * where it falls back to. The client's connection does the I/O; everything it decides comes from here.
 */

/** One transport as a server offers it. */
export interface TransportOffer {
  readonly id: TransportId
  /** Both directions on one connection (false: client→server goes over separate requests). */
  readonly duplex: boolean
  /** Binary frames on the wire (every transport carries binary payloads, as base64 inside JSON). */
  readonly binary: boolean
  /** Frames arrive in the order they were sent. */
  readonly ordered: boolean
  /** WebRTC only: the ICE servers (STUN, TURN with credentials) the client should use. */
  readonly iceServers?: readonly IceServer[]
}

/** An ICE server as `RTCPeerConnection` takes it. */
export interface IceServer {
  readonly urls: string | readonly string[]
  readonly username?: string
  readonly credential?: string
}

/** A server's answer to a negotiate request; also what WELCOME carries (`transports`). */
export interface ServerOffer {
  readonly version: number
  /** In the server's order of preference. */
  readonly transports: readonly TransportOffer[]
  readonly limits: SessionLimits
}

/** What every transport can carry, as offers list it. */
export const transportTraits: Readonly<Record<TransportId, Omit<TransportOffer, "id">>> = {
  webrtc: { duplex: true, binary: true, ordered: true },
  websocket: { duplex: true, binary: true, ordered: true },
  sse: { duplex: false, binary: false, ordered: true },
  "long-polling": { duplex: false, binary: false, ordered: true },
  polling: { duplex: false, binary: false, ordered: true },
  memory: { duplex: true, binary: true, ordered: true },
}

/** The ladder of DESIGN.md, best first: the default ranking when nobody says otherwise. */
export const defaultLadder: readonly TransportId[] = ["webrtc", "websocket", "sse", "long-polling", "polling"]

/**
 * Most likely to connect at once, first: where a session starts when nothing is remembered. Plain
 * requests pass nearly every network; a held request, a stream and an upgrade each fail on some. WebRTC
 * needs a session to signal over, so it is never a start.
 */
const startOrder: readonly TransportId[] = ["long-polling", "polling", "sse", "websocket", "memory"]

/** What a client remembers about one server, across page loads when it has storage. */
export interface TransportMemory {
  /** The transport the last session settled on, and when. */
  readonly worked?: { readonly id: TransportId; readonly at: number } | undefined
  /** Transports that failed, each until the time (ms since the epoch) the failure is forgotten. */
  readonly failed: Readonly<Partial<Record<TransportId, number>>>
}

export const emptyMemory: TransportMemory = { failed: {} }

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

/** Whether `id` is remembered as failed at `now`. */
export function hasFailed(memory: TransportMemory, id: TransportId, now: number): boolean {
  const until = memory.failed[id]
  return until !== undefined && until > now
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

/** The memory after `id` failed: remembered as failed for `forMs`, and no longer as the one that worked. */
export function rememberFailure(memory: TransportMemory, id: TransportId, now: number, forMs: number): TransportMemory {
  const worked = memory.worked?.id === id ? undefined : memory.worked
  return { worked, failed: { ...memory.failed, [id]: now + forMs } }
}

/** The memory after a session settled on `id`: remembered as working, and its failure forgotten. */
export function rememberSuccess(memory: TransportMemory, id: TransportId, now: number): TransportMemory {
  const failed: Partial<Record<TransportId, number>> = {}
  for (const [other, until] of Object.entries(memory.failed) as [TransportId, number][]) {
    if (other !== id && until > now) failed[other] = until
  }
  return { worked: { id, at: now }, failed }
}

/** Reads remembered text back; anything malformed is as good as nothing remembered. */
export function parseMemory(text: string | null | undefined): TransportMemory {
  if (!text) return emptyMemory
  try {
    const value = JSON.parse(text) as { worked?: { id?: unknown; at?: unknown }; failed?: unknown }
    const worked =
      value.worked && isTransportId(value.worked.id) && typeof value.worked.at === "number"
        ? { id: value.worked.id, at: value.worked.at }
        : undefined
    const failed: Partial<Record<TransportId, number>> = {}
    if (value.failed && typeof value.failed === "object") {
      for (const [id, until] of Object.entries(value.failed)) {
        if (isTransportId(id) && typeof until === "number" && Number.isFinite(until)) failed[id] = until
      }
    }
    return { worked, failed }
  } catch {
    return emptyMemory
  }
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

const transportIds = new Set<string>(Object.keys(transportTraits))

export function isTransportId(value: unknown): value is TransportId {
  return typeof value === "string" && transportIds.has(value)
}
