import type { ErrorCode } from "../errors.ts"
import type { SessionLimits } from "../session/limits.ts"
import type { SignalKind, TransportId, TransportOffer } from "../transport/types.ts"
import * as Frame from "./frameNumbers.ts"
import type { TopicPosition } from "./frames.ts"

/**
 * The encoding half of the one codec of the JSON text protocol (codec.ts decodes), and the predicates
 * that read an encoded frame's type without parsing it. Encoding builds frame text from payload JSON that
 * the caller stringified once, so a topic message fanned out to many sessions is serialised once and
 * only its sequence number differs per frame.
 */

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

// Bodies of data frames (everything after the sequence number). Names and keys are JSON-quoted here; the
// payload arguments are JSON text from `stringifyPayload`. Each is a function of its own, and the objects
// below only gather them (listed, not spread: a spread is kept even when unused), so that a client
// bundle carries the bodies a client writes and not the server's.

const call = (id: number, procedure: string, input: string) => `${id},${JSON.stringify(procedure)},${input}`
const stream = (id: number, stream: string, input: string, credit: number) =>
  `${id},${JSON.stringify(stream)},${input},${credit}`
const cancel = (id: number) => `${id}`
const credit = (id: number, credit: number) => `${id},${credit}`
/** `since` left out writes the form without positions (docs/protocol.md#topics). */
const subscribe = (id: number, topic: string, key: string, since?: TopicPosition | null) =>
  since === undefined
    ? `${id},${JSON.stringify(topic)},${JSON.stringify(key)}`
    : `${id},${JSON.stringify(topic)},${JSON.stringify(key)},${since === null ? "null" : `[${since[0]},${JSON.stringify(since[1])}]`}`
const unsubscribe = (topic: string, key: string) => `${JSON.stringify(topic)},${JSON.stringify(key)}`
/** `transport` left out writes the form without it (docs/protocol.md#webrtc-data-channels). */
const signal = (attempt: number, kind: SignalKind, data: unknown, transport?: TransportId) =>
  `${attempt},${JSON.stringify(kind)},${JSON.stringify(data ?? null)}${transport === undefined ? "" : `,${JSON.stringify(transport)}`}`
/** A PEER frame; `data` is JSON text (a relayed message inside it is already encoded). */
const peer = (conn: number, op: string, data: string) => `${conn},${JSON.stringify(op)},${data}`
const publish = (id: number, topic: string, key: string, message: string) =>
  `${id},${JSON.stringify(topic)},${JSON.stringify(key)},${message}`

/**
 * The body of a PRESENCE request (docs/presence.md). Not in `clientBody`: only a client that uses
 * presence imports it, so that the others do not carry it.
 */
export const presenceBody = (id: number, topic: string, key: string, watch: boolean) =>
  `${id},${JSON.stringify(topic)},${JSON.stringify(key)},${watch}`

/** Bodies of the data frames a client sends (the client's part of `body`). */
export const clientBody = { call, stream, cancel, credit, subscribe, unsubscribe, signal, peer, publish }

/** Bodies of every data frame, both directions. */
export const body = {
  call,
  stream,
  cancel,
  credit,
  subscribe,
  unsubscribe,
  signal,
  peer,
  publish,
  presence: presenceBody,
  /** A PRESENCE_EVENT body; `data` is the member's data as JSON text. */
  presenceEvent: (topic: string, key: string, event: "join" | "leave", member: string, data: string) =>
    `${JSON.stringify(topic)},${JSON.stringify(key)},"${event}",${JSON.stringify(member)},${data}`,
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
  /**
   * `offset` left out for subscribers without positions; `epoch` only on the first MESSAGE of a key whose
   * history was lost mid-subscription (docs/protocol.md#a-new-epoch-mid-subscription).
   */
  message: (topic: string, key: string, message: string, offset?: number, epoch?: string) =>
    offset === undefined
      ? `${JSON.stringify(topic)},${JSON.stringify(key)},${message}`
      : epoch === undefined
        ? `${JSON.stringify(topic)},${JSON.stringify(key)},${message},${offset}`
        : `${JSON.stringify(topic)},${JSON.stringify(key)},${message},${offset},${JSON.stringify(epoch)}`,
}

/**
 * Frame text of an UNRELIABLE frame: `[28,n,body]`, where `body` is an ITEM body (`body.item`) or a
 * MESSAGE body without offset (`body.message`), and `n` the frame's place in its slot (docs/delivery.md).
 */
export function unreliableFrame(n: number, body: string): string {
  return `[${Frame.UNRELIABLE},${n},${body}]`
}

// Control frames, likewise one function each.
const hello = (version: number, token: string | null, received: number) =>
  `[${Frame.HELLO},${version},${JSON.stringify(token)},${received}]`
/** An ACK frame: everything up to `received` arrived. */
export const ackFrame = (received: number) => `[${Frame.ACK},${received}]`
const probe = (probe: number) => `[${Frame.PROBE},${probe}]`
const pong = (received: number) => `[${Frame.PONG},${received}]`
const bye = (code: ErrorCode, message: string) => `[${Frame.BYE},${JSON.stringify(code)},${JSON.stringify(message)}]`

/** Control frames a client sends (the client's part of `control`; ACK is `ackFrame`). */
export const clientControl = { hello, probe, pong, bye }

/** Frame text of control frames. */
export const control = {
  hello,
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
    `[${Frame.WELCOME},${version},${JSON.stringify(token)},${JSON.stringify(sessionId)},${resumed},${received},${JSON.stringify(limits)}${transports === undefined ? "" : `,${JSON.stringify(transports)}`}${transports !== undefined && peerId !== undefined ? `,${JSON.stringify(peerId)}` : ""}]`,
  ack: ackFrame,
  probe,
  ping: (received: number) => `[${Frame.PING},${received}]`,
  pong,
  notice: (code: ErrorCode, message: string) => `[${Frame.NOTICE},${JSON.stringify(code)},${JSON.stringify(message)}]`,
  bye,
}

const ACK_PREFIX = `[${Frame.ACK},`
const WELCOME_PREFIX = `[${Frame.WELCOME},`
const UNRELIABLE_PREFIX = `[${Frame.UNRELIABLE},`

/**
 * Whether an encoded frame is an ACK (as `control.ack` writes it). The polling transports carry the
 * acknowledgement in each downstream request instead of posting these.
 */
export function isAckFrame(frame: string): boolean {
  return frame.startsWith(ACK_PREFIX)
}

/**
 * Whether an encoded frame is a WELCOME (as `control.welcome` writes it), without parsing it: a batching
 * transport keeps it first, because the client must read it before anything else.
 *
 * @example
 * ```ts
 * const queue: string[] = ['[21,1,"token","s1",false,0,{}]']
 * const head = isEncodedWelcome(queue[0] ?? "") ? 1 : 0 // the WELCOME stays first
 * ```
 */
export function isEncodedWelcome(frame: string): boolean {
  return frame.startsWith(WELCOME_PREFIX)
}

/**
 * Whether an encoded frame is an UNRELIABLE frame (as `unreliableFrame` writes it), without parsing it:
 * the only kind a lossy channel (WebRTC's second data channel) may carry.
 *
 * @example
 * ```ts
 * function onMessage(data: unknown, deliver: (frame: string) => void): void {
 *   if (typeof data === "string" && isEncodedUnreliable(data)) deliver(data)
 * }
 * ```
 */
export function isEncodedUnreliable(frame: string): boolean {
  return frame.startsWith(UNRELIABLE_PREFIX)
}
