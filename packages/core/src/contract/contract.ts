import type * as Schema from "effect/Schema"
import type { StandardSchemaV1 } from "./standardSchema.ts"

/** Anything a contract accepts as a payload schema: an Effect Schema, or any Standard Schema (zod, valibot, …). */
export type AnySchema = Schema.Top | StandardSchemaV1

/** The decoded (application-side) type of a payload schema. */
export type TypeOf<S> = S extends Schema.Top ? S["Type"] : S extends StandardSchemaV1<unknown, infer O> ? O : never

/** The encoded (wire-side, before JSON) type of a payload schema. */
export type EncodedOf<S> = S extends Schema.Top
  ? S["Encoded"]
  : S extends StandardSchemaV1<infer I, unknown>
    ? I
    : never

/** A request/response procedure. */
export interface RpcDefinition<
  I extends AnySchema = AnySchema,
  O extends AnySchema = AnySchema,
  E extends AnySchema | undefined = AnySchema | undefined,
> {
  readonly kind: "rpc"
  readonly input: I
  readonly output: O
  readonly error: E
}

/**
 * How a stream's items or a topic's messages travel (docs/delivery.md). `"reliable"` (the default):
 * ordered, acknowledged, replayed after a reconnect. `"unreliable"`: latest value wins; a message may be
 * skipped (conflated or lost) and is never replayed, but none arrives after a newer one of its channel.
 */
export type Delivery = "reliable" | "unreliable"

/** A server→client stream started by a client request. */
export interface StreamDefinition<
  I extends AnySchema = AnySchema,
  T extends AnySchema = AnySchema,
  E extends AnySchema | undefined = AnySchema | undefined,
  D extends Delivery = Delivery,
> {
  readonly kind: "stream"
  readonly input: I
  readonly item: T
  readonly error: E
  readonly delivery: D
}

/**
 * A pub/sub topic: every key (`room("lobby")`) is its own channel, ordered unless declared unreliable.
 * `presence`, when declared, is the schema of what each subscriber of a key is listed with
 * (docs/presence.md); `undefined` for a topic without presence.
 */
export interface TopicDefinition<
  M extends AnySchema = AnySchema,
  D extends Delivery = Delivery,
  P extends AnySchema | undefined = AnySchema | undefined,
> {
  readonly kind: "topic"
  readonly message: M
  readonly delivery: D
  readonly presence: P
}

/**
 * A client↔client channel: messages two clients of the same server send each other over a peer
 * connection (`client.peers`), directly or relayed by the server (docs/peers.md). `"unreliable"`
 * delivery sends them latest-value-wins, on an unordered data channel when the path is direct.
 */
export interface PeerDefinition<M extends AnySchema = AnySchema, D extends Delivery = Delivery> {
  readonly kind: "peer"
  readonly message: M
  readonly delivery: D
}

/** A contract's RPCs by name. */
export type RpcMap = { readonly [name: string]: RpcDefinition }
/** A contract's streams by name. */
export type StreamMap = { readonly [name: string]: StreamDefinition }
/** A contract's topics by name. */
export type TopicMap = { readonly [name: string]: TopicDefinition }
/** A contract's peer channels by name. */
export type PeerMap = { readonly [name: string]: PeerDefinition }

/** A contract: every channel an app has, shared by server and client. */
export interface Contract<
  R extends RpcMap = RpcMap,
  S extends StreamMap = StreamMap,
  T extends TopicMap = TopicMap,
  P extends PeerMap = PeerMap,
> {
  readonly rpc: R
  readonly streams: S
  readonly topics: T
  /** Client↔client channels (docs/peers.md); empty when the contract declares none. */
  readonly peers: P
}

/** Any contract: the bound of the type parameters that take one. */
export type AnyContract = Contract<RpcMap, StreamMap, TopicMap, PeerMap>

/** The typed failure a channel declares, or `never` when it declares none. */
export type ErrorOf<D extends { readonly error: AnySchema | undefined }> = D["error"] extends AnySchema
  ? TypeOf<D["error"]>
  : never

const channelName = /^[A-Za-z_$][A-Za-z0-9_$.-]{0,127}$/

/**
 * Declares a request/response procedure.
 *
 * @example
 * const add = rpc({ input: Schema.Struct({ a: Schema.Number, b: Schema.Number }), output: Schema.Number })
 */
export function rpc<I extends AnySchema, O extends AnySchema, E extends AnySchema | undefined = undefined>(definition: {
  readonly input: I
  readonly output: O
  readonly error?: E
}): RpcDefinition<I, O, E> {
  return { kind: "rpc", input: definition.input, output: definition.output, error: definition.error as E }
}

/**
 * Declares a server→client stream. `delivery: "unreliable"` sends its items latest-value-wins, outside
 * flow control (docs/delivery.md); the default is `"reliable"`.
 *
 * @example
 * const countdown = stream({ input: Schema.Struct({ from: Schema.Number }), item: Schema.Number })
 * const position = stream({ input: Schema.Struct({ id: Schema.String }), item: Schema.Number, delivery: "unreliable" })
 */
export function stream<
  I extends AnySchema,
  T extends AnySchema,
  E extends AnySchema | undefined = undefined,
  D extends Delivery = "reliable",
>(definition: {
  readonly input: I
  readonly item: T
  readonly error?: E
  readonly delivery?: D
}): StreamDefinition<I, T, E, NoInfer<D>> {
  return {
    kind: "stream",
    input: definition.input,
    item: definition.item,
    error: definition.error as E,
    delivery: deliveryOf(definition.delivery) as D,
  }
}

/**
 * Declares a pub/sub topic. `delivery: "unreliable"` fans its messages out latest-value-wins per key,
 * with no history (docs/delivery.md); the default is `"reliable"`. `presence` lists who is subscribed to
 * each key, each with data of that schema that the server computes (docs/presence.md).
 *
 * @example
 * const room = topic({ message: Schema.Struct({ user: Schema.String, text: Schema.String }) })
 * const cursor = topic({ message: Schema.Struct({ x: Schema.Number, y: Schema.Number }), delivery: "unreliable" })
 * const lobby = topic({ message: Schema.String, presence: Schema.Struct({ name: Schema.String }) })
 */
export function topic<
  M extends AnySchema,
  D extends Delivery = "reliable",
  P extends AnySchema | undefined = undefined,
>(definition: {
  readonly message: M
  readonly delivery?: D
  readonly presence?: P
}): TopicDefinition<M, NoInfer<D>, P> {
  return {
    kind: "topic",
    message: definition.message,
    delivery: deliveryOf(definition.delivery) as D,
    presence: definition.presence as P,
  }
}

function deliveryOf(delivery: unknown): Delivery {
  if (delivery === undefined || delivery === "reliable") return "reliable"
  if (delivery === "unreliable") return "unreliable"
  throw new TypeError(
    `switchyard: delivery must be "reliable" or "unreliable", not ${typeof delivery === "string" ? JSON.stringify(delivery) : typeof delivery}`,
  )
}

/**
 * Declares a client↔client channel, carried over a peer connection between two clients.
 * `delivery: "unreliable"` sends its messages latest-value-wins: each may be dropped, none arrives after
 * a newer one, and a direct path carries them on an unordered, never-retransmitting data channel
 * (docs/peers.md#unreliable-peer-channels); the default is `"reliable"`.
 *
 * @example
 * const note = peer({ message: Schema.String })
 * const cursor = peer({ message: Schema.Struct({ x: Schema.Number, y: Schema.Number }), delivery: "unreliable" })
 */
export function peer<M extends AnySchema, D extends Delivery = "reliable">(definition: {
  readonly message: M
  readonly delivery?: D
}): PeerDefinition<M, NoInfer<D>> {
  return { kind: "peer", message: definition.message, delivery: deliveryOf(definition.delivery) as D }
}

/**
 * Declares a contract. Channel names are identifiers (letters, digits, `_`, `$`, `.`, `-`; at most 128).
 *
 * @example
 * export const Chat = contract({
 *   rpc: { add: rpc({ input: Schema.Struct({ a: Schema.Number, b: Schema.Number }), output: Schema.Number }) },
 *   streams: { countdown: stream({ input: Schema.Struct({ from: Schema.Number }), item: Schema.Number }) },
 *   topics: { room: topic({ message: Schema.Struct({ user: Schema.String, text: Schema.String }) }) },
 *   peers: { cursor: peer({ message: Schema.Struct({ x: Schema.Number, y: Schema.Number }) }) },
 * })
 */
export function contract<
  const R extends RpcMap = { readonly [K in never]: RpcDefinition },
  const S extends StreamMap = { readonly [K in never]: StreamDefinition },
  const T extends TopicMap = { readonly [K in never]: TopicDefinition },
  const P extends PeerMap = { readonly [K in never]: PeerDefinition },
>(definition: {
  readonly rpc?: R
  readonly streams?: S
  readonly topics?: T
  readonly peers?: P
}): Contract<R, S, T, P> {
  const checked = {
    rpc: checkChannels(definition.rpc, "rpc"),
    streams: checkChannels(definition.streams, "stream"),
    topics: checkChannels(definition.topics, "topic"),
    peers: checkChannels(definition.peers, "peer"),
  }
  return Object.freeze(checked) as unknown as Contract<R, S, T, P>
}

function checkChannels<M extends object>(
  channels: M | undefined,
  kind: "rpc" | "stream" | "topic" | "peer",
): Readonly<Record<string, unknown>> {
  const out: Record<string, unknown> = Object.create(null)
  for (const [name, definition] of Object.entries(channels ?? {})) {
    if (!channelName.test(name)) throw new TypeError(`switchyard: invalid ${kind} name ${JSON.stringify(name)}`)
    if ((definition as { kind?: unknown } | undefined)?.kind !== kind) {
      throw new TypeError(`switchyard: ${JSON.stringify(name)} must be declared with ${kind}(…)`)
    }
    // A definition written by hand (not by `stream()` / `topic()`) is checked here too.
    if (kind !== "rpc") {
      try {
        deliveryOf((definition as { delivery?: unknown }).delivery)
      } catch (error) {
        throw new TypeError(`switchyard: ${kind} ${JSON.stringify(name)}: ${(error as Error).message.slice(12)}`)
      }
    }
    out[name] = definition
  }
  return Object.freeze(out)
}
