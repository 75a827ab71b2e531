/**
 * Frame layout of protocol version 1. Every frame is one JSON array whose first element is its type.
 * Data frames (types 1–16) carry a per-direction sequence number at index 1 and are kept for replay
 * until acknowledged; control frames (types 20–28) are never sequenced nor replayed. UNRELIABLE (28) is the
 * control frame that carries the items and messages of channels declared `delivery: "unreliable"`.
 * `docs/protocol.md` is the normative description.
 */
import type { SessionLimits } from "../session/limits.ts"
import type { SignalKind, TransportId, TransportOffer } from "../transport/types.ts"
import { isCount } from "./fields.ts"

/** The wire protocol's version, sent in HELLO and WELCOME (docs/protocol.md). */
export const PROTOCOL_VERSION = 1

export { FrameType } from "./frameType.ts"

// client → server data frames
/** CALL: calls an RPC (docs/protocol.md). */
export type CallFrame = readonly [1, seq: number, id: number, procedure: string, input: unknown]
/** STREAM: opens a stream with an initial credit. */
export type StreamFrame = readonly [4, seq: number, id: number, stream: string, input: unknown, credit: number]
/** CANCEL: cancels a call or a stream. */
export type CancelFrame = readonly [7, seq: number, id: number]
/** CREDIT: lets a stream's server send `credit` more items. */
export type CreditFrame = readonly [8, seq: number, id: number, credit: number]
/** `since` absent: a subscriber written before topic offsets (see docs/protocol.md#topics). */
export type SubscribeFrame = readonly [
  9,
  seq: number,
  id: number,
  topic: string,
  key: string,
  since?: TopicPosition | null,
]
/** UNSUBSCRIBE: ends a subscription to a topic key. */
export type UnsubscribeFrame = readonly [10, seq: number, topic: string, key: string]
/** PUBLISH: publishes a message to a topic key. */
export type PublishFrame = readonly [11, seq: number, id: number, topic: string, key: string, message: unknown]
/**
 * Asks for the members of a topic key (docs/presence.md), answered by a RESULT whose output is
 * `PresenceList`. `watch` true also starts PRESENCE_EVENT frames for the key, until UNSUBSCRIBE (the
 * session must be subscribed to it).
 */
export type PresenceFrame = readonly [15, seq: number, id: number, topic: string, key: string, watch: boolean]

/**
 * Sets up a signalled transport (WebRTC) over the session already open, in both directions: an offer,
 * an answer or an ICE candidate for one attempt (`attempt` is chosen by the client), or the end of it.
 * `transport` (client→server only) names the signalled transport the attempt is for; without it, the
 * server's first signalled transport (docs/protocol.md#webrtc-data-channels).
 */
export type SignalFrame = readonly [
  13,
  seq: number,
  attempt: number,
  kind: SignalKind,
  data: unknown,
  transport?: TransportId,
]

/**
 * A client↔client connection (docs/peers.md), in both directions: `conn` is the id the server gave the
 * connection, except in a client's `connect`, where it is a reference the client picked, and in the
 * server's `refused` that answers it. What `data` holds depends on `op` (docs/protocol.md#peers).
 */
export type PeerFrame = readonly [14, seq: number, conn: number, op: PeerOp, data: unknown]

/** What a client sends about a peer connection. */
export type ClientPeerOp =
  | "connect"
  | "accept"
  | "reject"
  | "offer"
  | "answer"
  | "candidate"
  | "relay"
  | "latest"
  | "close"
/** What the server sends about a peer connection. */
export type ServerPeerOp =
  | "incoming"
  | "open"
  | "refused"
  | "offer"
  | "answer"
  | "candidate"
  | "relay"
  | "latest"
  | "skip"
  | "error"
  | "closed"
/** What a PEER frame does, either way. */
export type PeerOp = ClientPeerOp | ServerPeerOp

// server → client data frames
/** RESULT: an RPC's output. */
export type ResultFrame = readonly [2, seq: number, id: number, output: unknown]
/** ERROR: a call, stream or request failed, with its code. */
export type ErrorFrame = readonly [3, seq: number, id: number, code: string, message: string, data?: unknown]
/** ITEM: one item of a stream. */
export type ItemFrame = readonly [5, seq: number, id: number, item: unknown]
/** END: a stream ended. */
export type EndFrame = readonly [6, seq: number, id: number]
/** `offset` is present when the subscriber asked for positions and the server keeps history for the key. */
export type MessageFrame = readonly [
  12,
  seq: number,
  topic: string,
  key: string,
  message: unknown,
  offset?: number,
  /** Only when the key's history was lost mid-subscription: its new epoch (offsets start again). */
  epoch?: string,
]
/** A session joined or left a topic key this session watches (docs/presence.md); `data` is the member's data. */
export type PresenceEventFrame = readonly [
  16,
  seq: number,
  topic: string,
  key: string,
  event: PresenceChangeKind,
  member: string,
  data: unknown,
]
/** What a PRESENCE_EVENT says happened. */
export type PresenceChangeKind = "join" | "leave"
/** The output of a PRESENCE request's RESULT: each member's session id and data. */
export type PresenceList = readonly (readonly [member: string, data: unknown])[]

/** Whether a RESULT's output is a `PresenceList` (the data is checked by the topic's schema). */
export function isPresenceList(value: unknown): value is PresenceList {
  return Array.isArray(value) && value.every((m) => Array.isArray(m) && m.length === 2 && isMemberId(m[0]))
}

/** A member id (a session id): a string of 1 to 128 characters. */
export function isMemberId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 128
}

// control frames
/** HELLO: the client opens or resumes a session. */
export type HelloFrame = readonly [20, version: number, token: string | null, received: number]
/** WELCOME: the server's answer to HELLO: the session, its limits and its transports. */
export type WelcomeFrame = readonly [
  21,
  version: number,
  token: string,
  sessionId: string,
  resumed: boolean,
  received: number,
  limits: SessionLimits,
  transports?: readonly TransportOffer[],
  /** The session's public peer id, when the server takes peer connections (docs/peers.md). */
  peerId?: string,
]
/** ACK: acknowledges the data frames received so far. */
export type AckFrame = readonly [22, received: number]
/** PING: the server's heartbeat. */
export type PingFrame = readonly [23, received: number]
/** PONG: the client's answer to PING. */
export type PongFrame = readonly [24, received: number]
/** NOTICE: an error the session survives. */
export type NoticeFrame = readonly [25, code: string, message: string]
/** BYE: the session ends, with a code. */
export type ByeFrame = readonly [26, code: string, message: string]
/** Before HELLO on a new link, the client asks whether the link carries frames both ways; the server echoes it. */
export type ProbeFrame = readonly [27, probe: number]

/**
 * An item of a stream declared `delivery: "unreliable"`: an ITEM without a sequence number. `n` grows
 * with each item of the stream (not by one: skipped values were conflated or lost); a client delivers a
 * frame only when its `n` is above the last it delivered for that stream (docs/delivery.md).
 */
export type UnreliableItemFrame = readonly [28, n: number, id: number, item: unknown]
/** A message of a topic declared `delivery: "unreliable"`: a MESSAGE without a sequence number or offset. */
export type UnreliableMessageFrame = readonly [28, n: number, topic: string, key: string, message: unknown]
/** What travels latest-value-wins, server to client only: told apart by their length (4 or 5). */
export type UnreliableFrame = UnreliableItemFrame | UnreliableMessageFrame

/**
 * A position in the stream of one topic key: the offset of the last publication a subscriber has (0 for
 * none), and the epoch of the stream that offset belongs to. Offsets count publications 1, 2, 3, … per key;
 * the epoch changes whenever the server loses the key's history, so offsets of two epochs never mix.
 */
export type TopicPosition = readonly [offset: number, epoch: string]

/**
 * What a RESULT answers to a SUBSCRIBE that carried `since` (when the server keeps history): the offset
 * after which MESSAGE frames follow, the stream's epoch, and whether nothing was missed since `since`.
 */
export type Subscribed = readonly [offset: number, epoch: string, recovered: boolean]

/** Longest topic epoch accepted, in UTF-16 code units. */
export const MAX_EPOCH_LENGTH = 64

/** A topic offset: an integer from 0 to 2^53 − 1. */
export function isOffset(value: unknown): value is number {
  return isCount(value)
}

/** A topic epoch: a string of 1 to `MAX_EPOCH_LENGTH` UTF-16 code units. */
export function isEpoch(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_EPOCH_LENGTH
}

/** Whether a RESULT's output is a subscription confirmation (`Subscribed`). */
export function isSubscribed(value: unknown): value is Subscribed {
  return (
    Array.isArray(value) &&
    value.length === 3 &&
    isOffset(value[0]) &&
    isEpoch(value[1]) &&
    typeof value[2] === "boolean"
  )
}

/** The data frames a client sends (numbered and acknowledged). */
export type ClientDataFrame =
  | CallFrame
  | StreamFrame
  | CancelFrame
  | CreditFrame
  | SubscribeFrame
  | UnsubscribeFrame
  | PublishFrame
  | SignalFrame
  | PeerFrame
  | PresenceFrame
/** The data frames a server sends (numbered and acknowledged). */
export type ServerDataFrame =
  | ResultFrame
  | ErrorFrame
  | ItemFrame
  | EndFrame
  | MessageFrame
  | SignalFrame
  | PeerFrame
  | PresenceEventFrame
/** Every frame a client sends. */
export type ClientFrame = ClientDataFrame | HelloFrame | AckFrame | PongFrame | NoticeFrame | ByeFrame | ProbeFrame
/** Every frame a server sends. */
export type ServerFrame =
  | ServerDataFrame
  | WelcomeFrame
  | AckFrame
  | PingFrame
  | NoticeFrame
  | ByeFrame
  | ProbeFrame
  | UnreliableFrame

/** True for data frames: sequenced, acknowledged and replayed. */
export function isDataFrame(type: number): boolean {
  return type >= 1 && type <= 16
}
