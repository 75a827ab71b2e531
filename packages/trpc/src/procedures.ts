// How the server runs a tRPC procedure for a Switchyard call or stream: as tRPC's own ws adapter does
// (callTRPCProcedure, getErrorShape, the router's transformer), with the session's `ctx` in place of a
// socket. One file, so that the two handlers of trpcContract read side by side.
import type { HandlerContext } from "@switchyard/server-node"
import {
  type AnyRouter,
  callTRPCProcedure,
  getErrorShape,
  getTRPCErrorFromUnknown,
  isTrackedEnvelope,
  TRPCError,
} from "@trpc/server"
import { isObservable, observableToAsyncIterable } from "@trpc/server/observable"
import type { TrpcRequest, TrpcSubscriptionItem } from "./contract.ts"

type ProcedureType = "query" | "mutation" | "subscription"

/** What `createContext` is given for each call: the session's side of what tRPC's adapters pass. */
export interface TrpcContextOptions<A> {
  /** What the server's `authenticate` returned for the connection that created or last resumed the session. */
  readonly auth: A
  /** The session's public id. */
  readonly sessionId: string
  /** The transport the call arrived on. */
  readonly transport: string
  /** Aborts when the caller cancels or the session ends; not on a dropped connection. */
  readonly signal: AbortSignal
  /** The procedure called. */
  readonly info: { readonly type: ProcedureType; readonly path: string }
}

/** What `onProcedureError` hears: tRPC's `onError` of its adapters, for one call. */
export interface TrpcErrorInfo<A> {
  readonly error: TRPCError
  readonly type: ProcedureType
  readonly path: string
  readonly input: unknown
  readonly ctx: unknown
  readonly auth: A
}

/** The parts of the server options the procedures need. */
export interface ProcedureRunner<A> {
  readonly router: AnyRouter
  readonly createContext: ((options: TrpcContextOptions<A>) => unknown) | undefined
  readonly onProcedureError: ((info: TrpcErrorInfo<A>) => void) | undefined
  /** Where an `onProcedureError` or `errorFormatter` that throws is reported (the server's `onError`). */
  readonly report: (error: unknown, path: string) => void
}

/** The error shape the client gets, as tRPC's ws adapter answers when the formatter itself throws. */
const fallbackShape = {
  code: -32603,
  message: "Internal server error",
  data: { code: "INTERNAL_SERVER_ERROR", httpStatus: 500 },
}

/** One call's state: its context once made and its input once read, for the error shape and `onError`. */
interface Call<A> {
  readonly runner: ProcedureRunner<A>
  readonly type: ProcedureType
  readonly request: TrpcRequest
  readonly ctx: HandlerContext<unknown, A>
  trpcCtx: unknown
  input: unknown
}

async function start<A>(call: Call<A>): Promise<unknown> {
  const { runner, type, request, ctx } = call
  call.trpcCtx = runner.createContext
    ? await runner.createContext({
        auth: ctx.auth,
        sessionId: ctx.sessionId,
        transport: ctx.transport,
        signal: ctx.signal,
        info: { type, path: request.path },
      })
    : {}
  let input: unknown
  try {
    input = runner.router._def._config.transformer.input.deserialize(request.input)
  } catch (cause) {
    throw new TRPCError({ code: "PARSE_ERROR", message: "the input could not be deserialised", cause })
  }
  // A subscription restarted with the last tracked id gets it in its input, as tRPC's adapters give it.
  if (request.lastEventId !== undefined) {
    if (typeof input === "object" && input !== null) input = { ...input, lastEventId: request.lastEventId }
    else input ??= { lastEventId: request.lastEventId }
  }
  call.input = input
  return callTRPCProcedure({
    router: runner.router,
    path: request.path,
    getRawInput: async () => input,
    ctx: call.trpcCtx,
    type,
    signal: ctx.signal,
    batchIndex: 0,
  })
}

/** Ends the call with the procedure's error shape, serialised by the transformer (`ctx.fail`). */
function fail<A>(call: Call<A>, cause: unknown): never {
  const { runner, type, request, ctx } = call
  const error = getTRPCErrorFromUnknown(cause)
  try {
    runner.onProcedureError?.({ error, type, path: request.path, input: call.input, ctx: call.trpcCtx, auth: ctx.auth })
  } catch (thrown) {
    runner.report(thrown, request.path)
  }
  const config = runner.router._def._config
  let shape: unknown
  try {
    shape = getErrorShape({ config, error, type, path: request.path, input: call.input, ctx: call.trpcCtx })
  } catch (thrown) {
    runner.report(thrown, request.path)
    shape = fallbackShape
  }
  return ctx.fail(config.transformer.output.serialize(shape))
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === "object" && value !== null && Symbol.asyncIterator in value

/** The handler of `trpc.query` and `trpc.mutation`: the procedure's output, serialised; its error shape on failure. */
export function callHandler<A>(runner: ProcedureRunner<A>, type: "query" | "mutation") {
  return async (request: TrpcRequest, ctx: HandlerContext<unknown, A>): Promise<unknown> => {
    const call: Call<A> = { runner, type, request, ctx, trpcCtx: undefined, input: undefined }
    try {
      const data = await start(call)
      if (isAsyncIterable(data) || isObservable(data)) {
        throw new TRPCError({
          code: "UNSUPPORTED_MEDIA_TYPE",
          message: `Cannot return an async iterable or observable from a ${type} procedure with Switchyard`,
        })
      }
      return runner.router._def._config.transformer.output.serialize(data)
    } catch (cause) {
      return fail(call, cause)
    }
  }
}

/**
 * The handler of `trpc.subscription`: `started` once the procedure returned its async iterable or
 * observable, then each value (a `tracked()` one with its id). The stream's end, a cancel or the session's
 * end aborts the procedure's `signal`; the iterator is then returned, as tRPC's adapters do.
 */
export function subscriptionHandler<A>(runner: ProcedureRunner<A>) {
  return async function* subscription(
    request: TrpcRequest,
    ctx: HandlerContext<unknown, A>,
  ): AsyncGenerator<TrpcSubscriptionItem> {
    const call: Call<A> = { runner, type: "subscription", request, ctx, trpcCtx: undefined, input: undefined }
    const serialize = runner.router._def._config.transformer.output.serialize
    let iterator: AsyncIterator<unknown>
    try {
      const result = await start(call)
      if (!isAsyncIterable(result) && !isObservable(result)) {
        throw new TRPCError({
          code: "INTERNAL_SERVER_ERROR",
          message: `Subscription ${request.path} did not return an observable or a AsyncGenerator`,
        })
      }
      const iterable = isObservable(result) ? observableToAsyncIterable(result, ctx.signal) : result
      iterator = iterable[Symbol.asyncIterator]()
    } catch (cause) {
      return fail(call, cause)
    }
    // The procedure's next value is raced against the signal: a generator waiting for an event ends when
    // the caller leaves, even if it never looks at its signal.
    const stopped = new Promise<"stopped">((resolve) => {
      if (ctx.signal.aborted) resolve("stopped")
      else ctx.signal.addEventListener("abort", () => resolve("stopped"), { once: true })
    })
    let done = false
    try {
      yield { type: "started" }
      while (true) {
        const next = await Promise.race([iterator.next(), stopped])
        if (next === "stopped") return
        if (next.done) {
          done = true
          return
        }
        const value: unknown = next.value
        if (isTrackedEnvelope(value)) {
          const [id, data] = value
          yield { type: "data", id, data: serialize({ id, data }) }
        } else yield { type: "data", data: serialize(value) }
      }
    } catch (cause) {
      done = true
      if (ctx.signal.aborted) return
      return fail(call, cause)
    } finally {
      // Not awaited: a generator blocked on an event returns only after that event, and the stream has ended.
      if (!done) Promise.resolve(iterator.return?.()).catch((error) => runner.report(error, request.path))
    }
  }
}
