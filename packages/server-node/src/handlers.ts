import type {
  AnyContract,
  AnySchema,
  ErrorOf,
  RpcDefinition,
  StreamDefinition,
  TopicDefinition,
  TransportId,
  TypeOf,
} from "@switchyard/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import type { HandlerServices } from "./services.ts"

/** What every handler receives beside its input. */
export interface HandlerContext<E = never, A = unknown> {
  /** Aborts when the caller cancels, when the session ends, or when the server closes. */
  readonly signal: AbortSignal
  /** The session's public id (never its secret token). */
  readonly sessionId: string
  /** The transport the call arrived on. */
  readonly transport: TransportId
  /** What `authenticate(req)` returned for this session. */
  readonly auth: A
  /** Ends the call with the channel's declared error; the caller receives it typed. */
  fail(error: E): never
}

type Awaitable<T> = T | PromiseLike<T>

/**
 * An RPC handler: returns a value, a Promise or an Effect. The Effect may require `R`, the services of the
 * server's `layer` option (none without one).
 */
export type RpcHandler<D extends RpcDefinition, A = unknown, R = never> = (
  input: TypeOf<D["input"]>,
  ctx: HandlerContext<ErrorOf<D>, A>,
) => Awaitable<TypeOf<D["output"]>> | Effect.Effect<TypeOf<D["output"]>, ErrorOf<D>, R>

/**
 * A stream handler: returns an async iterable (an `async function*`) or an Effect Stream. The Stream may
 * require `R`, the services of the server's `layer` option (none without one).
 */
export type StreamHandler<D extends StreamDefinition, A = unknown, R = never> = (
  input: TypeOf<D["input"]>,
  ctx: HandlerContext<ErrorOf<D>, A>,
) => AsyncIterable<TypeOf<D["item"]>> | Stream.Stream<TypeOf<D["item"]>, ErrorOf<D>, R>

/**
 * A hook's verdict: `true` allows, anything else refuses. An Effect (which may require `R`, the services of
 * the server's `layer` option) allows when it succeeds with `true`; its failure is a refusal like `false`,
 * its defect a refusal like a throw (reported to `onError`).
 */
type Verdict<R = never> = Awaitable<boolean> | Effect.Effect<boolean, unknown, R>

/**
 * Who may subscribe to and publish on a topic. Subscribing is allowed by default; clients may publish
 * only where `canPublish` allows it (the server itself always may). A topic that declares presence also
 * needs `presence`: the data each subscriber of a key is listed with (docs/presence.md). Each may return an
 * Effect requiring `R`, the services of the server's `layer` option (none without one).
 *
 * @example
 * ```ts
 * import { contract, topic } from "@switchyard/core"
 * import type { TopicPolicy } from "@switchyard/server-node"
 * import * as Context from "effect/Context"
 * import type * as Effect from "effect/Effect"
 * import * as Schema from "effect/Schema"
 *
 * class Rooms extends Context.Service<
 *   Rooms,
 *   { readonly isMember: (room: string, user: string) => Effect.Effect<boolean> }
 * >()("app/Rooms") {}
 * const Chat = contract({ topics: { room: topic({ message: Schema.String }) } })
 * // Only the room's members may read it, as the Rooms service (from the server's `layer`) says.
 * const room: TopicPolicy<typeof Chat.topics.room, { userId: string }, Rooms> = {
 *   canSubscribe: (key, ctx) => Rooms.use((rooms) => rooms.isMember(key, ctx.auth.userId)),
 * }
 * ```
 */
export type TopicPolicy<D extends TopicDefinition, A = unknown, R = never> = {
  readonly canSubscribe?: (key: string, ctx: HandlerContext<never, A>) => Verdict<R>
  readonly canPublish?: (key: string, message: TypeOf<D["message"]>, ctx: HandlerContext<never, A>) => Verdict<R>
} & (D["presence"] extends AnySchema ? { readonly presence: PresenceHook<TypeOf<D["presence"]>, A, R> } : unknown)

/**
 * Computes a session's data as a member of a key, from its context, when its subscription is
 * confirmed; checked against the topic's presence schema. It may return an Effect requiring `R`, the
 * services of the server's `layer` option: its failure, like its defect or a throw, refuses the
 * subscription with `INTERNAL_ERROR` and is reported to `onError`.
 *
 * @example
 * ```ts
 * // Each subscriber of a key is listed with the name its authentication gave it.
 * const presence: PresenceHook<{ name: string }, { name: string }> = (key, ctx) => ({ name: ctx.auth.name })
 * ```
 */
export type PresenceHook<P, A = unknown, R = never> = (
  key: string,
  ctx: HandlerContext<never, A>,
) => Awaitable<P> | Effect.Effect<P, unknown, R>

/** The topics of a contract that declare presence. */
type PresenceTopics<T> = { [K in keyof T]: T[K] extends { readonly presence: AnySchema } ? K : never }[keyof T]

/** The topic policies: optional, except for the topics that declare presence (their `presence` hook). */
type TopicsSection<T extends AnyContract["topics"], A, R> = [PresenceTopics<T>] extends [never]
  ? { readonly topics?: { readonly [K in keyof T]?: TopicPolicy<T[K], A, R> } }
  : {
      readonly topics: { readonly [K in PresenceTopics<T>]: TopicPolicy<T[K], A, R> } & {
        readonly [K in Exclude<keyof T, PresenceTopics<T>>]?: TopicPolicy<T[K], A, R>
      }
    }

type Section<M, V> = keyof M extends never ? { readonly [K in keyof M]?: V } : V

/**
 * The handlers a contract needs: one per RPC and stream; topic policies are optional. `R`: the services
 * their Effects and Streams (and the policies' Effects) may require, those of the server's `layer` option.
 */
export type Handlers<C extends AnyContract, A = unknown, R = never> = (keyof C["rpc"] extends never
  ? { readonly rpc?: Section<C["rpc"], never> }
  : { readonly rpc: { readonly [K in keyof C["rpc"]]: RpcHandler<C["rpc"][K], A, R> } }) &
  (keyof C["streams"] extends never
    ? { readonly streams?: Section<C["streams"], never> }
    : { readonly streams: { readonly [K in keyof C["streams"]]: StreamHandler<C["streams"][K], A, R> } }) &
  TopicsSection<C["topics"], A, R>

/** Thrown by `ctx.fail`; carries the declared error to the runtime. */
export class HandlerFailure {
  constructor(readonly error: unknown) {}
}

/** The settled outcome of one handler run. */
export type HandlerOutcome =
  | { readonly _tag: "success"; readonly value: unknown }
  | { readonly _tag: "failure"; readonly error: unknown }
  | { readonly _tag: "defect"; readonly cause: unknown }
  | { readonly _tag: "interrupted" }

function toFailure(error: unknown): HandlerFailure {
  return new HandlerFailure(error)
}

function fromThrown(thrown: unknown, signal: AbortSignal): HandlerOutcome {
  if (thrown instanceof HandlerFailure) return { _tag: "failure", error: thrown.error }
  if (signal.aborted) return { _tag: "interrupted" }
  return { _tag: "defect", cause: thrown }
}

/** Runs an RPC handler, whatever it returns, to an outcome; an Effect with `services`. Never rejects. */
export async function runRpc(
  handler: (input: unknown, ctx: HandlerContext<unknown, unknown>) => unknown,
  input: unknown,
  ctx: HandlerContext<unknown, unknown>,
  services: HandlerServices,
): Promise<HandlerOutcome> {
  try {
    const result = handler(input, ctx)
    if (Effect.isEffect(result)) {
      return exitOutcome(
        await services.runExit(result as Effect.Effect<unknown, unknown, unknown>, ctx.signal),
        ctx.signal,
      )
    }
    return { _tag: "success", value: await result }
  } catch (thrown) {
    return fromThrown(thrown, ctx.signal)
  }
}

/**
 * Runs the Effect a hook returned (`authenticate`, a topic policy, a presence hook, `peers.authorize`) with
 * `services`, interrupted when `signal` aborts (it never starts if it aborts while the layer is being
 * built), to an outcome: its failure a `failure`, a defect (or services that cannot run it: the layer
 * failed) a `defect`; refused because the server is closing, `interrupted` (nothing for `onError`: a
 * closing server turning a late hook away is no bug). Never rejects.
 */
export function runHookEffect(
  effect: unknown,
  services: HandlerServices,
  signal: AbortSignal,
): Promise<HandlerOutcome> {
  return services.runExit(effect as Effect.Effect<unknown, unknown, unknown>, signal).then(
    (exit) => exitOutcome(exit, signal),
    (thrown: unknown) => (services.isClosing ? { _tag: "interrupted" } : { _tag: "defect", cause: thrown }),
  )
}

function exitOutcome(exit: Exit.Exit<unknown, unknown>, signal: AbortSignal): HandlerOutcome {
  if (Exit.isSuccess(exit)) return { _tag: "success", value: exit.value }
  if (Cause.hasInterruptsOnly(exit.cause)) return { _tag: "interrupted" }
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "Some") return { _tag: "failure", error: failure.value }
  return fromThrown(Cause.squash(exit.cause), signal)
}

/**
 * Turns whatever a stream handler returned into an async iterator; an Effect Stream runs with `services`,
 * and its failures become `HandlerFailure`s.
 */
export function streamIterator(result: unknown, services: HandlerServices): AsyncIterator<unknown> {
  if (Stream.isStream(result)) {
    return services.iterator(Stream.mapError(result as Stream.Stream<unknown, unknown, unknown>, toFailure))
  }
  if (result !== null && typeof result === "object" && Symbol.asyncIterator in result) {
    return (result as AsyncIterable<unknown>)[Symbol.asyncIterator]()
  }
  throw new TypeError("a stream handler must return an async iterable or an Effect Stream")
}

/** Classifies what a stream iterator threw. */
export function streamOutcome(thrown: unknown, signal: AbortSignal): HandlerOutcome {
  return fromThrown(thrown, signal)
}

/** Whether a handler's result must be awaited; a `then` getter that throws counts as not. */
export function isAsync(value: unknown): boolean {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return false
  try {
    return typeof (value as PromiseLike<unknown>).then === "function" || Effect.isEffect(value)
  } catch {
    return false
  }
}

/** The handlers of one section of the contract (`rpc`, `streams`), by name; throws when one is missing. */
export function functionsOf(
  section: object | undefined,
  names: Iterable<string>,
  label: string,
): ReadonlyMap<string, (input: unknown, ctx: HandlerContext<unknown, unknown>) => unknown> {
  const out = new Map<string, (input: unknown, ctx: HandlerContext<unknown, unknown>) => unknown>()
  for (const name of names) {
    const fn = (section as Record<string, unknown> | undefined)?.[name]
    if (typeof fn !== "function") throw new TypeError(`switchyard: missing handler ${label}.${name}`)
    out.set(name, fn as (input: unknown, ctx: HandlerContext<unknown, unknown>) => unknown)
  }
  return out
}
