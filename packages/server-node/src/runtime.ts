import type { CompiledContract, ConnectionInfo, ErrorCode, Link, ServerLinkEvents, TransportId } from "@switchyard/core"
import type { HandlerContext } from "./handlers.ts"
import type { ServerLimits } from "./limits.ts"
import type { PeerHub } from "./peers.ts"
import type { PresenceHub } from "./presence.ts"
import type { HandlerServices } from "./services.ts"
import type { TopicRegistry } from "./topics.ts"
import type { RunningTransport } from "./transport.ts"

export type AnyHandler = (input: unknown, ctx: HandlerContext<unknown, unknown>) => unknown
export type AnyPolicy = {
  readonly canSubscribe?: (key: string, ctx: HandlerContext<never, unknown>) => unknown
  readonly canPublish?: (key: string, message: unknown, ctx: HandlerContext<never, unknown>) => unknown
  readonly presence?: (key: string, ctx: HandlerContext<never, unknown>) => unknown
}

/** What every session of one server shares. */
export interface Runtime {
  readonly compiled: CompiledContract
  readonly rpc: ReadonlyMap<string, AnyHandler>
  readonly streams: ReadonlyMap<string, AnyHandler>
  readonly policies: ReadonlyMap<string, AnyPolicy>
  readonly limits: ServerLimits
  /** What handlers' Effects and Streams run with: the services of `options.layer`, or none. */
  readonly services: HandlerServices
  readonly topics: TopicRegistry
  /** Who is subscribed to each key of the topics that declare presence, on every node (docs/presence.md). */
  readonly presence: PresenceHub
  onError(error: unknown, context: { readonly sessionId?: string; readonly channel?: string }): void
  /** `session` ended (for `reason`): the server forgets it, if it still holds that very session. */
  forget(session: { readonly token: string }, reason: ErrorCode): void
  /**
   * The signalled transports (WebRTC), started, by id, in the order they are offered: a SIGNAL goes to
   * the one it names, or to the first when it names none.
   */
  readonly signalled: ReadonlyMap<TransportId, RunningTransport>
  /** The server's acceptor, for links a signalled transport opens: bound to the session that signalled. */
  readonly accept: (link: Link, info: ConnectionInfo, signalledBy: string) => ServerLinkEvents
  /** Client↔client connections (docs/peers.md). */
  readonly peers: PeerHub
}

/**
 * What the parts of one session (`calls.ts`, `subscriptions.ts`) use of it: `ServerSession` implements
 * this, and each part holds it for the session's life, so no frame allocates anything to reach it.
 */
export interface SessionPort {
  readonly runtime: Runtime
  readonly id: string
  readonly auth: unknown
  /** The transport of the session's current (or last) link: the handlers' `ctx.transport`. */
  readonly transport: TransportId
  readonly isEnded: boolean
  /** Sends a data frame (sequenced, kept for replay); the session ends if its replay buffer is full. */
  send(type: number, frameBody: string): void
  /** Sends an ERROR for request `id`. */
  fail(id: number, code: ErrorCode, message: string, data?: string): void
  /** Sends an UNRELIABLE frame on the current link, latest-value-wins per `slot`. */
  deliverLatest(slot: object, frame: string): void
  /** Whether `frames` more data frames of `size` characters in all fit in the replay buffer. */
  canTake(frames: number, size: number): boolean
}
