// The client entry: `switchyardLink`, a terminating tRPC link over a Switchyard client. It imports no
// Effect (the contract is plain Standard Schemas) and nothing of the server.
import { type ClientOptions, createClient } from "@switchyard/client-browser"
import { type Client, isFailure, SwitchyardError } from "@switchyard/core"
import { type Operation, TRPCClientError, type TRPCLink } from "@trpc/client"
import { getTransformer, type TransformerOptions } from "@trpc/client/unstable-internals"
import type { AnyRouter, inferTRPCClientTypes } from "@trpc/server"
import { type Observer, observable } from "@trpc/server/observable"
import { type TrpcContract, type TrpcRequest, trpcContract } from "./contract.ts"

export {
  MAX_PATH_LENGTH,
  type TrpcContract,
  type TrpcRequest,
  type TrpcSubscriptionItem,
  trpcContract,
  type WithTrpc,
  withTrpc,
} from "./contract.ts"

/** A Switchyard client of `trpcContract`, as `switchyardLink` uses (and makes). */
export type TrpcSwitchyardClient = Client<TrpcContract>

/**
 * Options of `switchyardLink`: an existing client of `trpcContract` (`{ client }`), or `createClient`'s
 * options (`url`, `transports`, `auth`, `fetch`, …) to make one; and the router's transformer, as tRPC's
 * own links take it.
 */
export type SwitchyardLinkOptions<TRouter extends AnyRouter> = (
  | { readonly client: TrpcSwitchyardClient }
  | ClientOptions
) &
  TransformerOptions<inferTRPCClientTypes<TRouter>>

/** A tRPC link, with the Switchyard client it calls (to `close()` it, `reauthenticate()`, listen to it). */
export type SwitchyardLink<TRouter extends AnyRouter> = TRPCLink<TRouter> & {
  readonly client: TrpcSwitchyardClient
}

type Results = Observer<
  { result: { type?: string; data?: unknown; id?: string; state?: string; error?: unknown } },
  TRPCClientError<AnyRouter>
>
type Transformer = ReturnType<typeof getTransformer>

/**
 * A terminating tRPC link over Switchyard: queries and mutations are Switchyard RPCs and subscriptions
 * Switchyard streams, on whichever transport the session negotiated, with its guarantees (a call in flight
 * across a dropped connection is answered once after the resume; a subscription continues with nothing
 * missed or repeated, and restarts with its `lastEventId` after a lost session). Errors are
 * `TRPCClientError`s with the error shape the server's formatter made.
 *
 * @example
 * ```ts
 * import { createTRPCClient } from "@trpc/client"
 * import { longPollingTransport, websocketTransport } from "@switchyard/client-browser"
 * import { switchyardLink } from "@switchyard/trpc/client"
 * import superjson from "superjson"
 * import type { AppRouter } from "./router.ts" // your tRPC router
 *
 * const trpc = createTRPCClient<AppRouter>({
 *   links: [
 *     switchyardLink({ url: "/switchyard", transports: [websocketTransport(), longPollingTransport()], transformer: superjson }),
 *   ],
 * })
 * ```
 */
export function switchyardLink<TRouter extends AnyRouter>(
  options: SwitchyardLinkOptions<TRouter>,
): SwitchyardLink<TRouter> {
  const client = "client" in options ? options.client : createClient(trpcContract, options as ClientOptions)
  const transformer = getTransformer((options as { transformer?: Parameters<typeof getTransformer>[0] }).transformer)
  const link: TRPCLink<TRouter> =
    () =>
    ({ op }) =>
      observable((observer) => {
        const out = observer as unknown as Results
        // Ended: the teardown that follows need not abort (an abort builds a DOMException, a cost per call).
        let ended = false
        const results: Results = {
          next: (value) => out.next(value),
          error: (error) => {
            ended = true
            out.error(error)
          },
          complete: () => {
            ended = true
            out.complete()
          },
        }
        const controller = new AbortController()
        const onAbort = () => controller.abort(op.signal?.reason)
        if (op.signal?.aborted) onAbort()
        else op.signal?.addEventListener("abort", onAbort, { once: true })
        const request: TrpcRequest = { path: op.path, input: transformer.input.serialize(op.input) }
        if (op.type === "subscription") subscribe(client, transformer, request, controller.signal, op.signal, results)
        else call(client, transformer, op, request, controller.signal, results)
        return () => {
          op.signal?.removeEventListener("abort", onAbort)
          if (!ended) controller.abort()
        }
      })
  return Object.assign(link, { client })
}

/** The error a call or subscription ends with, as tRPC's own links give it. */
function clientError(error: unknown, transformer: Transformer, signal: AbortSignal): TRPCClientError<AnyRouter> {
  if (isFailure(error)) {
    // The procedure's error shape, as the server's transformer serialised it.
    return TRPCClientError.from({ error: transformer.output.deserialize(error.data) as object } as never)
  }
  // An abort rejects as `fetch` does in tRPC's HTTP links: with the signal's reason.
  if (signal.aborted && error instanceof SwitchyardError && error.code === "CANCELLED") {
    const reason: unknown = signal.reason
    return TRPCClientError.from(
      reason instanceof Error ? reason : new DOMException("The operation was aborted", "AbortError"),
    )
  }
  return TRPCClientError.from(error instanceof Error ? error : new Error(String(error)))
}

function call(
  client: TrpcSwitchyardClient,
  transformer: Transformer,
  op: Operation,
  request: TrpcRequest,
  signal: AbortSignal,
  results: Results,
): void {
  const rpc = op.type === "query" ? client.rpc["trpc.query"] : client.rpc["trpc.mutation"]
  rpc(request, { signal }).then(
    (output) => {
      let data: unknown
      try {
        data = transformer.output.deserialize(output)
      } catch (cause) {
        results.error(TRPCClientError.from(cause instanceof Error ? cause : new Error(String(cause))))
        return
      }
      results.next({ result: { type: "data", data } })
      results.complete()
    },
    (error: unknown) => {
      // Unsubscribed (not aborted by the caller's signal): nobody listens any more.
      if (signal.aborted && !op.signal?.aborted) return
      results.error(clientError(error, transformer, signal))
    },
  )
}

/**
 * Runs a subscription's stream, and restarts it once per lost session (with the last tracked id as
 * `lastEventId`, as `wsLink` restarts it on a new socket). Within a session nothing needs restarting:
 * the stream survives drops and transport changes.
 */
function subscribe(
  client: TrpcSwitchyardClient,
  transformer: Transformer,
  request: TrpcRequest,
  signal: AbortSignal,
  userSignal: AbortSignal | null | undefined,
  results: Results,
): void {
  let lastEventId: string | undefined
  let started = false
  const state = (name: string, error: unknown = null) => {
    if (!signal.aborted) results.next({ result: { type: "state", state: name, error } })
  }
  const offState = client.on("state", (s) =>
    state(s === "connected" ? "pending" : s === "closed" ? "idle" : "connecting"),
  )
  const run = async () => {
    while (true) {
      const input = lastEventId === undefined ? request : { ...request, lastEventId }
      try {
        for await (const item of client.streams["trpc.subscription"](input, { signal })) {
          if (signal.aborted) return
          if (item.type === "started") {
            if (!started) results.next({ result: { type: "started" } })
            started = true
            continue
          }
          if (item.id !== undefined) lastEventId = item.id
          const data = transformer.output.deserialize(item.data)
          results.next({ result: item.id === undefined ? { type: "data", data } : { type: "data", id: item.id, data } })
        }
        results.next({ result: { type: "stopped" } })
        results.complete()
        return
      } catch (error) {
        // The caller's signal completes the subscription, as wsLink does; an unsubscribe just ends it.
        if (signal.aborted) {
          if (userSignal?.aborted) results.complete()
          return
        }
        if (error instanceof SwitchyardError && error.code === "SESSION_LOST") {
          state("connecting", TRPCClientError.from(error))
          continue
        }
        results.error(clientError(error, transformer, signal))
        return
      }
    }
  }
  run().finally(offState)
}
