import type { ErrorCode } from "../errors.ts"
import type { TransportOffer } from "../negotiation.ts"
import {
  type ClientFrame,
  type ClientPeerOp,
  FrameType,
  isEpoch,
  isOffset,
  MAX_EPOCH_LENGTH,
  type ServerFrame,
  type ServerPeerOp,
  type SessionLimits,
  type SignalKind,
  type TopicPosition,
} from "./frames.ts"

/**
 * The one codec of the JSON text protocol, used by server and client alike. Decoding never throws: hostile
 * bytes come back as a `DecodeFailure` the caller answers with a NOTICE. Encoding builds frame text from
 * payload JSON that the caller stringified once, so a topic message fanned out to many sessions is
 * serialised once and only its sequence number differs per frame.
 */

export type DecodeResult<F> =
  | { readonly ok: true; readonly frame: F }
  | {
      readonly ok: false
      readonly code: ErrorCode
      readonly message: string
      /**
       * Set when the frame is a request whose sequence number and id are well formed, though another
       * field is not (a SUBSCRIBE's `since`): the receiver counts it and answers an ERROR for the id.
       */
      readonly request?: { readonly seq: number; readonly id: number }
    }

export interface DecodeOptions {
  /** Deepest nesting of arrays and objects accepted in one frame, the frame array included. */
  readonly maxDepth: number
  /** Largest frame accepted, in UTF-8 bytes; unchecked when absent. */
  readonly maxMessageBytes?: number
}

export const defaultDecodeOptions: DecodeOptions = { maxDepth: 64 }

/** Longest channel (procedure, stream, topic) name and topic key, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 128
export const MAX_KEY_LENGTH = 256
/** Largest credit one STREAM or CREDIT frame may grant. */
export const MAX_CREDIT = 1 << 20

const failure = (code: ErrorCode, message: string) => ({ ok: false, code, message }) as const

const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v > 0
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0
const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_NAME_LENGTH
const isKey = (v: unknown): v is string => typeof v === "string" && v.length <= MAX_KEY_LENGTH
const isCredit = (v: unknown): v is number => isSeq(v) && v <= MAX_CREDIT

/** Whether `text` nests arrays/objects deeper than `max`. Linear, allocation-free, string-aware. */
export function exceedsDepth(text: string, max: number): boolean {
  // A frame shorter than `max` characters cannot open more than `max` brackets.
  if (text.length <= max) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return true
    } else if (c === 93 /* ] */ || c === 125 /* } */) depth--
  }
  return false
}

/** Bytes of a string in UTF-8, without allocating. */
export function utf8Length(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

/** Whether `text` takes more than `max` bytes in UTF-8 (counted only when it might). */
export function exceedsBytes(text: string, max: number): boolean {
  return text.length > max || (text.length * 3 > max && utf8Length(text) > max)
}

function parse(text: unknown, options: DecodeOptions): DecodeResult<readonly unknown[]> {
  if (typeof text !== "string") return failure("INVALID_FRAME", "frames are JSON text, not binary")
  if (options.maxMessageBytes !== undefined && exceedsBytes(text, options.maxMessageBytes)) {
    return failure("MESSAGE_TOO_LARGE", `frame is larger than ${options.maxMessageBytes} bytes`)
  }
  if (exceedsDepth(text, options.maxDepth)) {
    return failure("FRAME_TOO_DEEP", `frame nests deeper than ${options.maxDepth} levels`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return failure("INVALID_FRAME", "frame is not valid JSON")
  }
  if (!Array.isArray(value) || value.length === 0)
    return failure("INVALID_FRAME", "frame is not a non-empty JSON array")
  return { ok: true, frame: value }
}

/** A frame's type as echoed in an error message: short, whatever the sender put there. */
const shown = (type: unknown) => (typeof type === "number" ? String(type) : typeof type)
const bad = (f: readonly unknown[]) => failure("INVALID_FRAME", `malformed frame of type ${shown(f[0])}`)

const header = /^\[(1|4|9|11),([1-9]\d{0,15}),([1-9]\d{0,15}),/

/**
 * Reads the type, sequence number and id at the head of a client CALL, STREAM, SUBSCRIBE or PUBLISH
 * frame without parsing the rest: a frame refused as too large or too deep can still be answered for its
 * id and counted in the sequence, so that the session goes on.
 */
export function peekRequestHeader(text: string): { type: number; seq: number; id: number } | undefined {
  const m = header.exec(text.slice(0, 40))
  if (!m) return undefined
  const seq = Number(m[2])
  const id = Number(m[3])
  return Number.isSafeInteger(seq) && Number.isSafeInteger(id) ? { type: Number(m[1]), seq, id } : undefined
}

/** Decodes one frame sent by a client (what a server accepts). */
export function decodeClientFrame(
  text: unknown,
  options: DecodeOptions = defaultDecodeOptions,
): DecodeResult<ClientFrame> {
  const parsed = parse(text, options)
  if (!parsed.ok) return parsed
  const f = parsed.frame
  let valid: boolean
  switch (f[0]) {
    case FrameType.CALL:
      valid = f.length === 5 && isSeq(f[1]) && isSeq(f[2]) && isName(f[3])
      break
    case FrameType.STREAM:
      valid = f.length === 6 && isSeq(f[1]) && isSeq(f[2]) && isName(f[3]) && isCredit(f[5])
      break
    case FrameType.CANCEL:
      valid = f.length === 3 && isSeq(f[1]) && isSeq(f[2])
      break
    case FrameType.CREDIT:
      valid = f.length === 4 && isSeq(f[1]) && isSeq(f[2]) && isCredit(f[3])
      break
    case FrameType.SUBSCRIBE: {
      valid = (f.length === 5 || f.length === 6) && isSeq(f[1]) && isSeq(f[2]) && isName(f[3]) && isKey(f[4])
      const why = valid && f.length === 6 ? positionError(f[5]) : undefined
      if (why !== undefined) {
        return {
          ...failure("INVALID_FRAME", `SUBSCRIBE: ${why}`),
          request: { seq: f[1] as number, id: f[2] as number },
        }
      }
      break
    }
    case FrameType.UNSUBSCRIBE:
      valid = f.length === 4 && isSeq(f[1]) && isName(f[2]) && isKey(f[3])
      break
    case FrameType.PUBLISH:
      valid = f.length === 6 && isSeq(f[1]) && isSeq(f[2]) && isName(f[3]) && isKey(f[4])
      break
    case FrameType.SIGNAL:
      valid = isSignal(f)
      break
    case FrameType.PEER:
      // Only the head is checked here: the server judges `data` (clientPeerDataError) and answers a bad
      // one for its connection, so that the frame still counts in the sequence.
      valid = f.length === 5 && isSeq(f[1]) && isSeq(f[2]) && typeof f[3] === "string" && f[3].length <= 16
      break
    case FrameType.HELLO:
      valid =
        f.length === 4 &&
        isSeq(f[1]) &&
        (f[2] === null || (typeof f[2] === "string" && f[2].length <= 256)) &&
        isCount(f[3])
      break
    case FrameType.ACK:
    case FrameType.PONG:
    case FrameType.PROBE:
      valid = f.length === 2 && isCount(f[1])
      break
    case FrameType.NOTICE:
    case FrameType.BYE:
      valid = f.length === 3 && typeof f[1] === "string" && typeof f[2] === "string"
      break
    case FrameType.UNRELIABLE:
      return failure("INVALID_FRAME", "UNRELIABLE frames travel from server to client only; publish with PUBLISH")
    default:
      return failure("INVALID_FRAME", `unknown frame type ${shown(f[0])} from a client`)
  }
  return valid ? { ok: true, frame: f as unknown as ClientFrame } : bad(f)
}

/** Decodes one frame sent by a server (what a client accepts). */
export function decodeServerFrame(
  text: unknown,
  options: DecodeOptions = defaultDecodeOptions,
): DecodeResult<ServerFrame> {
  const parsed = parse(text, options)
  if (!parsed.ok) return parsed
  const f = parsed.frame
  let valid: boolean
  switch (f[0]) {
    case FrameType.RESULT:
    case FrameType.ITEM:
      valid = f.length === 4 && isSeq(f[1]) && isSeq(f[2])
      break
    case FrameType.ERROR:
      valid =
        (f.length === 5 || f.length === 6) &&
        isSeq(f[1]) &&
        isSeq(f[2]) &&
        typeof f[3] === "string" &&
        typeof f[4] === "string"
      break
    case FrameType.END:
      valid = f.length === 3 && isSeq(f[1]) && isSeq(f[2])
      break
    case FrameType.MESSAGE:
      valid = (f.length === 5 || (f.length === 6 && isSeq(f[5]))) && isSeq(f[1]) && isName(f[2]) && isKey(f[3])
      break
    case FrameType.SIGNAL:
      valid = isSignal(f)
      break
    case FrameType.PEER:
      valid = f.length === 5 && isSeq(f[1]) && isSeq(f[2]) && isServerPeerData(f[3], f[4])
      break
    case FrameType.WELCOME:
      valid =
        (f.length === 7 ||
          (f.length === 8 && isOffers(f[7])) ||
          (f.length === 9 && isOffers(f[7]) && isPeerId(f[8]))) &&
        isSeq(f[1]) &&
        typeof f[2] === "string" &&
        typeof f[3] === "string" &&
        typeof f[4] === "boolean" &&
        isCount(f[5]) &&
        isLimits(f[6])
      break
    case FrameType.ACK:
    case FrameType.PING:
    case FrameType.PROBE:
      valid = f.length === 2 && isCount(f[1])
      break
    case FrameType.NOTICE:
    case FrameType.BYE:
      valid = f.length === 3 && typeof f[1] === "string" && typeof f[2] === "string"
      break
    case FrameType.UNRELIABLE:
      // [28, n, id, item] for a stream, [28, n, topic, key, message] for a topic.
      valid = isSeq(f[1]) && (f.length === 4 ? isSeq(f[2]) : f.length === 5 && isName(f[2]) && isKey(f[3]))
      break
    default:
      return failure("INVALID_FRAME", `unknown frame type ${shown(f[0])} from a server`)
  }
  return valid ? { ok: true, frame: f as unknown as ServerFrame } : bad(f)
}

/**
 * Why a SUBSCRIBE's `since` is not `null` or a `[offset, epoch]` position, or `undefined` when it is one.
 * The message names the rule, never the value: a hostile value is not echoed back.
 */
function positionError(since: unknown): string | undefined {
  if (since === null) return undefined
  if (!Array.isArray(since) || since.length !== 2) return "since must be null or [offset, epoch]"
  if (!isOffset(since[0])) return `since offset must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`
  if (!isEpoch(since[1])) return `since epoch must be a string of 1 to ${MAX_EPOCH_LENGTH} characters`
  return undefined
}

/** Longest SDP a SIGNAL may carry (characters); a data-channel-only description takes about 1,000. */
export const MAX_SDP_LENGTH = 16 * 1024
/** Longest ICE candidate line a SIGNAL may carry (characters). */
export const MAX_CANDIDATE_LENGTH = 1024

/**
 * A SIGNAL frame: `[13, seq, attempt, kind, data]`, where `data` is `{type, sdp}` for an offer or answer,
 * `{candidate, sdpMid?, sdpMLineIndex?}` or `null` (no more candidates) for a candidate, and a short
 * reason string for an end. Sizes are capped, so signalling cannot carry arbitrary payloads.
 */
function isSignal(f: readonly unknown[]): boolean {
  if (f.length !== 5 || !isSeq(f[1]) || !isSeq(f[2])) return false
  return isSignalData(f[3], f[4])
}

/** The `data` of a SIGNAL (and of a PEER offer, answer or candidate) of kind `kind`. */
function isSignalData(kind: unknown, value: unknown): boolean {
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

const isPeerId = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_PEER_ID_LENGTH
const isReason = (v: unknown) => typeof v === "string" && v.length <= MAX_REASON_LENGTH
/** A relayed peer message: `[n, channel, message]`, `n` counting the connection's messages from 1. */
const isRelay = (v: unknown) => Array.isArray(v) && v.length === 3 && isSeq(v[0]) && isName(v[1])
const clientPeerOps: ReadonlySet<string> = new Set<ClientPeerOp>([
  "connect",
  "accept",
  "reject",
  "offer",
  "answer",
  "candidate",
  "relay",
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
function isServerPeerData(op: unknown, data: unknown): boolean {
  switch (op as ServerPeerOp) {
    case "incoming":
    case "open":
      return isPeerSetup(data)
    case "refused":
    case "error":
    case "closed":
      return isCodeAndMessage(data)
    case "relay":
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

/** A list of transport offers; entries naming transports this client does not know are allowed. */
function isOffers(v: unknown): v is TransportOffer[] {
  return (
    Array.isArray(v) &&
    v.length <= 16 &&
    v.every(
      (o) =>
        typeof o === "object" &&
        o !== null &&
        typeof o.id === "string" &&
        typeof o.duplex === "boolean" &&
        typeof o.binary === "boolean" &&
        typeof o.ordered === "boolean",
    )
  )
}

function isLimits(v: unknown): v is SessionLimits {
  if (typeof v !== "object" || v === null) return false
  const l = v as Record<string, unknown>
  return (
    isCount(l.maxDepth) &&
    isCount(l.maxMessageBytes) &&
    isCount(l.heartbeatIntervalMs) &&
    isCount(l.heartbeatTimeoutMs) &&
    isCount(l.resumeWindowMs)
  )
}

/**
 * Stringifies an encoded payload once. `undefined` travels as `null`; values JSON cannot carry (cycles,
 * BigInt, nesting deep enough to overflow the stack) give `undefined` so that the caller can answer with
 * an error instead of throwing.
 */
export function stringifyPayload(value: unknown): string | undefined {
  try {
    return value === undefined ? "null" : JSON.stringify(value)
  } catch {
    return undefined
  }
}

/** Frame text of a data frame: `[type,seq,body]`, where `body` is the rest of the frame already encoded. */
export function dataFrame(type: number, seq: number, body: string): string {
  return `[${type},${seq},${body}]`
}

/**
 * Bodies of data frames (everything after the sequence number). Names and keys are JSON-quoted here; the
 * payload arguments are JSON text from `stringifyPayload`.
 */
export const body = {
  call: (id: number, procedure: string, input: string) => `${id},${JSON.stringify(procedure)},${input}`,
  stream: (id: number, stream: string, input: string, credit: number) =>
    `${id},${JSON.stringify(stream)},${input},${credit}`,
  cancel: (id: number) => `${id}`,
  credit: (id: number, credit: number) => `${id},${credit}`,
  /** `since` left out writes the form without positions (docs/protocol.md#topics). */
  subscribe: (id: number, topic: string, key: string, since?: TopicPosition | null) =>
    since === undefined
      ? `${id},${JSON.stringify(topic)},${JSON.stringify(key)}`
      : `${id},${JSON.stringify(topic)},${JSON.stringify(key)},${since === null ? "null" : `[${since[0]},${JSON.stringify(since[1])}]`}`,
  unsubscribe: (topic: string, key: string) => `${JSON.stringify(topic)},${JSON.stringify(key)}`,
  signal: (attempt: number, kind: SignalKind, data: unknown) =>
    `${attempt},${JSON.stringify(kind)},${JSON.stringify(data ?? null)}`,
  /** A PEER frame; `data` is JSON text (a relayed message inside it is already encoded). */
  peer: (conn: number, op: string, data: string) => `${conn},${JSON.stringify(op)},${data}`,
  publish: (id: number, topic: string, key: string, message: string) =>
    `${id},${JSON.stringify(topic)},${JSON.stringify(key)},${message}`,
  result: (id: number, output: string) => `${id},${output}`,
  /** The RESULT of a SUBSCRIBE that carried `since`: `[offset, epoch, recovered]` as its output. */
  subscribed: (id: number, offset: number, epoch: string, recovered: boolean) =>
    `${id},[${offset},${JSON.stringify(epoch)},${recovered}]`,
  error: (id: number, code: ErrorCode, message: string, data?: string) =>
    data === undefined
      ? `${id},${JSON.stringify(code)},${JSON.stringify(message)}`
      : `${id},${JSON.stringify(code)},${JSON.stringify(message)},${data}`,
  item: (id: number, item: string) => `${id},${item}`,
  end: (id: number) => `${id}`,
  /** `offset` left out for subscribers without positions. */
  message: (topic: string, key: string, message: string, offset?: number) =>
    offset === undefined
      ? `${JSON.stringify(topic)},${JSON.stringify(key)},${message}`
      : `${JSON.stringify(topic)},${JSON.stringify(key)},${message},${offset}`,
}

/**
 * Frame text of an UNRELIABLE frame: `[28,n,body]`, where `body` is an ITEM body (`body.item`) or a
 * MESSAGE body without offset (`body.message`), and `n` the frame's place in its slot (docs/delivery.md).
 */
export function unreliableFrame(n: number, body: string): string {
  return `[${FrameType.UNRELIABLE},${n},${body}]`
}

/** Frame text of control frames. */
export const control = {
  hello: (version: number, token: string | null, received: number) =>
    `[${FrameType.HELLO},${version},${JSON.stringify(token)},${received}]`,
  welcome: (
    version: number,
    token: string,
    sessionId: string,
    resumed: boolean,
    received: number,
    limits: SessionLimits,
    transports?: readonly TransportOffer[],
    peerId?: string,
  ) =>
    `[${FrameType.WELCOME},${version},${JSON.stringify(token)},${JSON.stringify(sessionId)},${resumed},${received},${JSON.stringify(limits)}${transports === undefined ? "" : `,${JSON.stringify(transports)}`}${transports !== undefined && peerId !== undefined ? `,${JSON.stringify(peerId)}` : ""}]`,
  ack: (received: number) => `[${FrameType.ACK},${received}]`,
  probe: (probe: number) => `[${FrameType.PROBE},${probe}]`,
  ping: (received: number) => `[${FrameType.PING},${received}]`,
  pong: (received: number) => `[${FrameType.PONG},${received}]`,
  notice: (code: ErrorCode, message: string) =>
    `[${FrameType.NOTICE},${JSON.stringify(code)},${JSON.stringify(message)}]`,
  bye: (code: ErrorCode, message: string) => `[${FrameType.BYE},${JSON.stringify(code)},${JSON.stringify(message)}]`,
}

const ACK_PREFIX = `[${FrameType.ACK},`

/**
 * Whether an encoded frame is an ACK (as `control.ack` writes it). The polling transports carry the
 * acknowledgement in each downstream request instead of posting these.
 */
export function isAckFrame(frame: string): boolean {
  return frame.startsWith(ACK_PREFIX)
}
