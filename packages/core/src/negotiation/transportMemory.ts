import type { BuiltInTransportId, TransportId } from "../transport/types.ts"

/**
 * What a client remembers about the transports of one server: which one worked last, which failed and
 * until when (docs/negotiation.md). Pure functions over plain data; the client stores it as JSON.
 */

/** What a client remembers about one server, across page loads when it has storage. */
export interface TransportMemory {
  /** The transport the last session settled on, and when. */
  readonly worked?: { readonly id: TransportId; readonly at: number } | undefined
  /** Transports that failed, each until the time (ms since the epoch) the failure is forgotten. */
  readonly failed: Readonly<Partial<Record<TransportId, number>>>
}

/**
 * The built-in transports, the keys of `transportTraits` (transport/traits.ts): written out again rather
 * than imported, so that this module reaches nothing the root entry point reaches (negotiation/index.ts
 * says why). The type makes them agree: a built-in missing here, or one too many, does not compile.
 */
const builtIn: Readonly<Record<BuiltInTransportId, true>> = {
  webrtc: true,
  websocket: true,
  sse: true,
  "long-polling": true,
  polling: true,
  memory: true,
}

/** A memory with no failure remembered: where a client without stored memory starts. */
export const emptyMemory: TransportMemory = { failed: {} }

/** Whether `id` is remembered as failed at `now`. */
export function hasFailed(memory: TransportMemory, id: TransportId, now: number): boolean {
  const until = memory.failed[id]
  return until !== undefined && until > now
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

/**
 * Reads remembered text back, keeping the built-in transports and those of `known` (the client's own);
 * anything malformed is as good as nothing remembered.
 */
export function parseMemory(text: string | null | undefined, known: readonly TransportId[] = []): TransportMemory {
  if (!text) return emptyMemory
  const isKnown = (id: unknown): id is TransportId =>
    typeof id === "string" && (Object.hasOwn(builtIn, id) || known.includes(id))
  try {
    const value = JSON.parse(text) as { worked?: { id?: unknown; at?: unknown }; failed?: unknown }
    const worked =
      value.worked && isKnown(value.worked.id) && typeof value.worked.at === "number"
        ? { id: value.worked.id, at: value.worked.at }
        : undefined
    const failed: Partial<Record<TransportId, number>> = {}
    if (value.failed && typeof value.failed === "object") {
      for (const [id, until] of Object.entries(value.failed)) {
        if (isKnown(id) && typeof until === "number" && Number.isFinite(until)) failed[id] = until
      }
    }
    return { worked, failed }
  } catch {
    return emptyMemory
  }
}
