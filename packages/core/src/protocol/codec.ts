import type { ErrorCode } from "../errors.ts"
import type { SessionLimits } from "../session/limits.ts"
import type { TransportOffer } from "../transport/types.ts"
import { isCount, isCredit, isKey, isName, isSeq } from "./fields.ts"
import * as Frame from "./frameNumbers.ts"
import { type ClientFrame, isEpoch, isMemberId, isOffset, MAX_EPOCH_LENGTH, type ServerFrame } from "./frames.ts"
import { isPeerId, isServerPeerData, isSignal, isSignalData, isSignalEnvelope } from "./peerData.ts"

/**
 * The decoding half of the one codec of the JSON text protocol (encode.ts is the other), used by server
 * and client alike. Decoding never throws: hostile bytes come back as a `DecodeFailure` the caller
 * answers with a NOTICE.
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

/** Bounds the decoder holds each frame to. */
export interface DecodeOptions {
  /** Deepest nesting of arrays and objects accepted in one frame, the frame array included. */
  readonly maxDepth: number
  /** Largest frame accepted, in UTF-8 bytes; unchecked when absent. */
  readonly maxMessageBytes?: number
}

/** The decoder's bounds when none are given: a nesting depth of 64, no byte limit. */
export const defaultDecodeOptions: DecodeOptions = { maxDepth: 64 }

const failure = (code: ErrorCode, message: string) => ({ ok: false, code, message }) as const

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

/**
 * Bytes of a string in UTF-8, without allocating. An unpaired surrogate counts 3 bytes, as the U+FFFD
 * that `Buffer.byteLength`, `TextEncoder` and a socket write in its place.
 */
export function utf8Length(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
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
    case Frame.CALL:
      valid = f.length === 5 && isSeq(f[1]) && isSeq(f[2]) && isName(f[3])
      break
    case Frame.STREAM:
      valid = f.length === 6 && isSeq(f[1]) && isSeq(f[2]) && isName(f[3]) && isCredit(f[5])
      break
    case Frame.CANCEL:
      valid = f.length === 3 && isSeq(f[1]) && isSeq(f[2])
      break
    case Frame.CREDIT:
      valid = f.length === 4 && isSeq(f[1]) && isSeq(f[2]) && isCredit(f[3])
      break
    case Frame.SUBSCRIBE: {
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
    case Frame.UNSUBSCRIBE:
      valid = f.length === 4 && isSeq(f[1]) && isName(f[2]) && isKey(f[3])
      break
    case Frame.PUBLISH:
      valid = f.length === 6 && isSeq(f[1]) && isSeq(f[2]) && isName(f[3]) && isKey(f[4])
      break
    case Frame.PRESENCE:
      valid = f.length === 6 && isSeq(f[1]) && isSeq(f[2]) && isName(f[3]) && isKey(f[4]) && typeof f[5] === "boolean"
      break
    case Frame.SIGNAL:
      valid = isSignal(f)
      break
    case Frame.PEER:
      // Only the head is checked here: the server judges `data` (clientPeerDataError) and answers a bad
      // one for its connection, so that the frame still counts in the sequence.
      valid = f.length === 5 && isSeq(f[1]) && isSeq(f[2]) && typeof f[3] === "string" && f[3].length <= 16
      break
    case Frame.HELLO:
      valid =
        f.length === 4 &&
        isSeq(f[1]) &&
        (f[2] === null || (typeof f[2] === "string" && f[2].length <= 256)) &&
        isCount(f[3])
      break
    case Frame.ACK:
    case Frame.PONG:
    case Frame.PROBE:
      valid = f.length === 2 && isCount(f[1])
      break
    case Frame.NOTICE:
    case Frame.BYE:
      valid = f.length === 3 && typeof f[1] === "string" && typeof f[2] === "string"
      break
    case Frame.UNRELIABLE:
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
  return decodeServerFrameWith(text, options, isServerPeerData, isSignalData)
}

/**
 * `decodeServerFrame` with the checks of a PEER frame's `op` and `data` and of a SIGNAL frame's `kind` and
 * `data` given. The peer rules (`isServerPeerData`) are what a client with peer connections checks; a
 * client without them only reads a PEER frame's op to turn the connection down, and so leaves those rules
 * out of its bundle. Likewise the SIGNAL rules (`isSignalData`) come with the signalled transport that reads
 * the data (`ClientTransport.signalData`); a client given none never reads it.
 */
export function decodeServerFrameWith(
  text: unknown,
  options: DecodeOptions,
  peerData: (op: unknown, data: unknown) => boolean,
  signalData: (kind: unknown, data: unknown) => boolean,
): DecodeResult<ServerFrame> {
  const parsed = parse(text, options)
  if (!parsed.ok) return parsed
  const f = parsed.frame
  let valid: boolean
  switch (f[0]) {
    case Frame.RESULT:
    case Frame.ITEM:
      valid = f.length === 4 && isSeq(f[1]) && isSeq(f[2])
      break
    case Frame.ERROR:
      valid =
        (f.length === 5 || f.length === 6) &&
        isSeq(f[1]) &&
        isSeq(f[2]) &&
        typeof f[3] === "string" &&
        typeof f[4] === "string"
      break
    case Frame.END:
      valid = f.length === 3 && isSeq(f[1]) && isSeq(f[2])
      break
    case Frame.MESSAGE:
      valid =
        // offset and epoch optional (docs/protocol.md#a-new-epoch-mid-subscription)
        (f.length === 5 || (isSeq(f[5]) && (f.length === 6 || (f.length === 7 && isEpoch(f[6]))))) &&
        isSeq(f[1]) &&
        isName(f[2]) &&
        isKey(f[3])
      break
    case Frame.PRESENCE_EVENT:
      valid =
        f.length === 7 &&
        isSeq(f[1]) &&
        isName(f[2]) &&
        isKey(f[3]) &&
        (f[4] === "join" || f[4] === "leave") &&
        isMemberId(f[5])
      break
    case Frame.SIGNAL:
      valid = isSignalEnvelope(f) && signalData(f[3], f[4])
      break
    case Frame.PEER:
      valid = f.length === 5 && isSeq(f[1]) && isSeq(f[2]) && peerData(f[3], f[4])
      break
    case Frame.WELCOME:
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
    case Frame.ACK:
    case Frame.PING:
    case Frame.PROBE:
      valid = f.length === 2 && isCount(f[1])
      break
    case Frame.NOTICE:
    case Frame.BYE:
      valid = f.length === 3 && typeof f[1] === "string" && typeof f[2] === "string"
      break
    case Frame.UNRELIABLE:
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
