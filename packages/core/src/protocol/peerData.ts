import { isTransportId } from "../transport/traits.ts"
import { isCount, isName, isSeq } from "./fields.ts"
import type { ClientPeerOp, ServerPeerOp } from "./frames.ts"

/**
 * The free-form parts of SIGNAL and PEER frames (SDP, ICE candidates, peer ids, reasons, relayed
 * messages), checked by shape and size so that signalling cannot carry arbitrary payloads
 * (docs/protocol.md#peers).
 */

/** Longest SDP a SIGNAL may carry (characters); a data-channel-only description takes about 1,000. */
export const MAX_SDP_LENGTH = 16 * 1024
/** Longest ICE candidate line a SIGNAL may carry (characters). */
export const MAX_CANDIDATE_LENGTH = 1024

/**
 * A SIGNAL frame: `[13, seq, attempt, kind, data, transport?]`, where `data` is `{type, sdp}` for an offer
 * or answer, `{candidate, sdpMid?, sdpMLineIndex?}` or `null` (no more candidates) for a candidate, and a
 * short reason string for an end, and `transport` a transport id. Sizes are capped, so signalling cannot
 * carry arbitrary payloads.
 */
export function isSignal(f: readonly unknown[]): boolean {
  return isSignalEnvelope(f) && isSignalData(f[3], f[4])
}

/** A SIGNAL frame's length, sequence number, attempt and transport, whatever its kind and data. */
export function isSignalEnvelope(f: readonly unknown[]): boolean {
  return (f.length === 5 || (f.length === 6 && isTransportId(f[5]))) && isSeq(f[1]) && isSeq(f[2])
}

/** The `data` of a SIGNAL (and of a PEER offer, answer or candidate) of kind `kind`. */
export function isSignalData(kind: unknown, value: unknown): boolean {
  const data = value as Record<string, unknown> | null
  switch (kind) {
    case "offer":
    case "answer":
      return (
        typeof data === "object" &&
        data !== null &&
        data.type === kind &&
        typeof data.sdp === "string" &&
        data.sdp.length <= MAX_SDP_LENGTH
      )
    case "candidate":
      return (
        data === null ||
        (typeof data === "object" &&
          typeof data.candidate === "string" &&
          data.candidate.length <= MAX_CANDIDATE_LENGTH &&
          (data.sdpMid === undefined ||
            data.sdpMid === null ||
            (typeof data.sdpMid === "string" && data.sdpMid.length <= 64)) &&
          (data.sdpMLineIndex === undefined || data.sdpMLineIndex === null || isCount(data.sdpMLineIndex)))
      )
    case "end":
      return typeof data === "string" && (data as string).length <= 256
    default:
      return false
  }
}

/** Longest peer id accepted (characters); the server makes ids of 22. */
export const MAX_PEER_ID_LENGTH = 64
/** Longest reason a peer `reject` or `close` may carry (characters). */
const MAX_REASON_LENGTH = 256

export const isPeerId = (v: unknown): v is string =>
  typeof v === "string" && v.length > 0 && v.length <= MAX_PEER_ID_LENGTH
const isReason = (v: unknown) => typeof v === "string" && v.length <= MAX_REASON_LENGTH
/**
 * A relayed peer message: `[n, channel, message]`, `n` counting the connection's messages from 1 (for
 * `relay`), or its unreliable messages (for `latest`, docs/peers.md#unreliable-peer-channels).
 */
const isRelay = (v: unknown) => Array.isArray(v) && v.length === 3 && isSeq(v[0]) && isName(v[1])
const clientPeerOps: ReadonlySet<string> = new Set<ClientPeerOp>([
  "connect",
  "accept",
  "reject",
  "offer",
  "answer",
  "candidate",
  "relay",
  "latest",
  "close",
])

/**
 * Why the `data` of a client's PEER frame does not fit its `op` (docs/protocol.md#peers), or `undefined`
 * when it does. Says which rule broke, never echoes the value.
 */
export function clientPeerDataError(op: string, data: unknown): string | undefined {
  if (!clientPeerOps.has(op)) return `unknown peer operation ${JSON.stringify(op.slice(0, 16))}`
  switch (op as ClientPeerOp) {
    case "connect":
      return isPeerId(data) ? undefined : `a peer id is a string of 1 to ${MAX_PEER_ID_LENGTH} characters`
    case "accept":
      return data === null ? undefined : "accept carries null"
    case "reject":
    case "close":
      return isReason(data) ? undefined : `a reason is a string of at most ${MAX_REASON_LENGTH} characters`
    case "relay":
      return isRelay(data) ? undefined : "a relayed message is [n, channel, message]"
    case "latest":
      return isRelay(data) ? undefined : "an unreliable message is [n, channel, message]"
    case "offer":
    case "answer": {
      const sdp = (data as { sdp?: unknown } | null)?.sdp
      if (typeof sdp === "string" && sdp.length > MAX_SDP_LENGTH) {
        return `the SDP is longer than ${MAX_SDP_LENGTH} characters`
      }
      return isSignalData(op, data) ? undefined : `${op} carries {type: "${op}", sdp}`
    }
    case "candidate": {
      const candidate = (data as { candidate?: unknown } | null)?.candidate
      if (typeof candidate === "string" && candidate.length > MAX_CANDIDATE_LENGTH) {
        return `the candidate is longer than ${MAX_CANDIDATE_LENGTH} characters`
      }
      return isSignalData(op, data) ? undefined : "candidate carries {candidate, sdpMid?, sdpMLineIndex?} or null"
    }
  }
}

const isCodeAndMessage = (v: unknown) =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as { code?: unknown }).code === "string" &&
  typeof (v as { message?: unknown }).message === "string"

/** What `incoming` and `open` tell of a peer connection: the other side, ICE servers, whether to go direct. */
const isPeerSetup = (v: unknown) => {
  if (typeof v !== "object" || v === null) return false
  const d = v as Record<string, unknown>
  return (
    isPeerId(d.peer) &&
    typeof d.direct === "boolean" &&
    Array.isArray(d.iceServers) &&
    d.iceServers.length <= 16 &&
    d.iceServers.every((s) => typeof s === "object" && s !== null)
  )
}

/** The `data` of a server's PEER frame for `op` (docs/protocol.md#peers). */
export function isServerPeerData(op: unknown, data: unknown): boolean {
  switch (op as ServerPeerOp) {
    case "incoming":
    case "open":
      return isPeerSetup(data)
    case "refused":
    case "error":
    case "closed":
      return isCodeAndMessage(data)
    case "relay":
    case "latest":
      return isRelay(data)
    case "skip":
      return isSeq(data)
    case "offer":
    case "answer":
    case "candidate":
      return isSignalData(op, data)
    default:
      return false
  }
}
