import {
  createServer,
  type RpcHandler,
  type Server,
  type ServerOptions,
  type StreamHandler,
} from "@switchyard/server-node"
import type { AnyRouter, inferRouterContext } from "@trpc/server"
import { type TrpcContract, trpcContract } from "./contract.ts"
import {
  callHandler,
  type ProcedureRunner,
  subscriptionHandler,
  type TrpcContextOptions,
  type TrpcErrorInfo,
} from "./procedures.ts"

export {
  MAX_PATH_LENGTH,
  type TrpcContract,
  type TrpcRequest,
  type TrpcSubscriptionItem,
  trpcContract,
  type WithTrpc,
  withTrpc,
} from "./contract.ts"
export type { TrpcContextOptions, TrpcErrorInfo } from "./procedures.ts"

type Awaitable<T> = T | PromiseLike<T>

type CreateContext<TRouter extends AnyRouter, A> = (
  options: TrpcContextOptions<NoInfer<A>>,
) => Awaitable<inferRouterContext<TRouter>>

/**
 * `createContext` is required when the router's context has required fields, as tRPC's adapters
 * require it: without it, procedures would get `{}`.
 */
type RequiredContext<TRouter extends AnyRouter> =
  object extends inferRouterContext<TRouter> ? unknown : { readonly createContext: (...args: never[]) => unknown }

/** Options of `createTrpcServer`: `createServer`'s, and tRPC's `createContext` and `onError`. */
export type TrpcServerOptions<TRouter extends AnyRouter, A = undefined> = ServerOptions<A> & {
  /**
   * Makes the router's context for each call, from the session's side of it: `auth` (what `authenticate`
   * returned for the connection that created or last resumed the session, so a resume with a fresh token
   * reaches it: docs/trpc.md#context-and-credentials), `sessionId`, `transport`, `signal`, `info`.
   * Required when the router's context has required fields; without it, procedures get `{}`.
   */
  readonly createContext?: CreateContext<TRouter, A>
  /**
   * Hears every error a procedure call ends with (a `TRPCError`, or what a procedure threw, wrapped),
   * as `onError` of tRPC's own adapters does. `onError` keeps its `createServer` meaning: defects and
   * what a hook throws.
   */
  readonly onProcedureError?: (info: TrpcErrorInfo<NoInfer<A>>) => void
}

/**
 * Serves a tRPC v11 router over Switchyard: every transport `createServer` offers, the same limits,
 * origin checks and `authenticate`, whose result reaches `createContext` as `auth`. Queries, mutations
 * and subscriptions get the session's guarantees: a call in flight when the connection drops is answered
 * once after the resume, and a subscription continues with nothing missed or repeated.
 *
 * @example
 * ```ts
 * import { createTrpcServer } from "@switchyard/trpc/server"
 * import { appRouter, type User } from "./router.ts" // your tRPC router
 *
 * declare function verify(token: string | null): Promise<{ user: User }>
 * const server = createTrpcServer(appRouter, {
 *   authenticate: (request) => verify(new URL(request.url ?? "", "http://x").searchParams.get("token")),
 *   createContext: ({ auth }) => ({ user: auth.user }),
 * })
 * const { url } = await server.listen(3000)
 * ```
 */
export function createTrpcServer<TRouter extends AnyRouter, A = undefined>(
  router: TRouter,
  options: TrpcServerOptions<TRouter, A> & RequiredContext<TRouter>,
): Server<TrpcContract> {
  const { createContext, onProcedureError, ...serverOptions } = options
  const handlers = trpcHandlers<AnyRouter, A>(router, {
    ...(createContext && { createContext }),
    ...(onProcedureError && { onProcedureError }),
    ...(options.onError && { onError: options.onError }),
  } as TrpcHandlersOptions<AnyRouter, A>)
  return createServer(trpcContract, handlers, serverOptions as ServerOptions<A>)
}

/** The handlers of the tRPC channels, as `trpcHandlers` returns them. */
export interface TrpcHandlers<A = undefined> {
  readonly rpc: {
    readonly "trpc.query": RpcHandler<TrpcContract["rpc"]["trpc.query"], A>
    readonly "trpc.mutation": RpcHandler<TrpcContract["rpc"]["trpc.mutation"], A>
  }
  readonly streams: { readonly "trpc.subscription": StreamHandler<TrpcContract["streams"]["trpc.subscription"], A> }
}

/** Options of `trpcHandlers`: `createContext`, `onProcedureError`, and where failures of those go. */
export type TrpcHandlersOptions<TRouter extends AnyRouter, A = undefined> = Pick<
  TrpcServerOptions<TRouter, A>,
  "createContext" | "onProcedureError" | "onError"
>

/**
 * The handlers of the tRPC channels, to serve a router beside an app's own contract from one server:
 * merge them into the app's handlers and serve `withTrpc(contract)`. `A` is the type the server's
 * `authenticate` returns (`ctx.auth`), which these handlers cannot see: give it with the router's type.
 *
 * @example
 * ```ts
 * import { createServer } from "@switchyard/server-node"
 * import { trpcHandlers, withTrpc } from "@switchyard/trpc/server"
 * import { type AppRouter, appRouter, type User } from "./router.ts" // your tRPC router
 *
 * declare function authenticate(): User
 * const trpc = trpcHandlers<AppRouter, User>(appRouter, { createContext: ({ auth }) => ({ user: auth }) })
 * const server = createServer(withTrpc(Chat), {
 *   rpc: { ...handlers.rpc, ...trpc.rpc },
 *   streams: { ...handlers.streams, ...trpc.streams },
 *   topics: handlers.topics,
 * }, { authenticate })
 * ```
 */
export function trpcHandlers<TRouter extends AnyRouter, A = undefined>(
  router: TRouter,
  options: TrpcHandlersOptions<TRouter, A> & RequiredContext<TRouter>,
): TrpcHandlers<A> {
  const onError = options.onError ?? ((error: unknown) => console.error("[switchyard/trpc]", error))
  const report = (error: unknown, path: string) => {
    try {
      onError(error, { channel: path })
    } catch (hookError) {
      console.error("[switchyard/trpc] onError threw", hookError)
    }
  }
  const runner: ProcedureRunner<A> = {
    router,
    createContext: options.createContext as ProcedureRunner<A>["createContext"],
    onProcedureError: options.onProcedureError,
    report,
  }
  return {
    rpc: { "trpc.query": callHandler(runner, "query"), "trpc.mutation": callHandler(runner, "mutation") },
    streams: { "trpc.subscription": subscriptionHandler(runner) },
  }
}
