// The one contract every tRPC router is served with (docs/trpc.md#the-contract). It names no procedure:
// a call carries its path, and its input and output as the router's transformer serialised them, so one
// contract serves any router, and the session's guarantees (exactly-once resume, replay, fallback) apply
// to every procedure without a per-procedure declaration. The procedure validates its own input.
import { type AnyContract, type Contract, contract, rpc, type StandardSchemaV1, stream } from "@switchyard/core"

/** The longest procedure path a call may name (characters). */
export const MAX_PATH_LENGTH = 1024

/** One call of a procedure: its dotted path and its input, serialised by the transformer. */
export interface TrpcRequest {
  readonly path: string
  readonly input?: unknown
  /** A subscription restarted after a lost session: the id of the last tracked item it delivered. */
  readonly lastEventId?: string
}

/**
 * One item of a subscription's stream: `started` once the procedure has returned its iterable (what
 * `onStarted` hears), then its values, serialised by the transformer. `id` is a `tracked()` item's id;
 * `data` is then the serialised `{ id, data }`, as tRPC's own adapters send it.
 */
export type TrpcSubscriptionItem =
  | { readonly type: "started" }
  | { readonly type: "data"; readonly data: unknown; readonly id?: string }

/** Any JSON value: what a transformer made of an output or an error shape, checked by the client's transformer. */
const json: StandardSchemaV1<unknown, unknown> = {
  "~standard": { version: 1, vendor: "switchyard-trpc", validate: (value) => ({ value }) },
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const request: StandardSchemaV1<TrpcRequest, TrpcRequest> = {
  "~standard": {
    version: 1,
    vendor: "switchyard-trpc",
    validate: (value) => {
      if (!isRecord(value) || typeof value.path !== "string")
        return { issues: [{ message: "expected { path, input? }" }] }
      if (value.path.length > MAX_PATH_LENGTH) return { issues: [{ message: `path longer than ${MAX_PATH_LENGTH}` }] }
      if (value.lastEventId !== undefined && typeof value.lastEventId !== "string") {
        return { issues: [{ message: "lastEventId must be a string" }] }
      }
      return { value: value as unknown as TrpcRequest }
    },
  },
}

const item: StandardSchemaV1<TrpcSubscriptionItem, TrpcSubscriptionItem> = {
  "~standard": {
    version: 1,
    vendor: "switchyard-trpc",
    validate: (value) => {
      if (isRecord(value) && (value.type === "started" || (value.type === "data" && "data" in value))) {
        if (value.id === undefined || typeof value.id === "string") return { value: value as TrpcSubscriptionItem }
      }
      return { issues: [{ message: "expected a subscription item" }] }
    },
  },
}

/**
 * The Switchyard contract a tRPC router is served with: `trpc.query` and `trpc.mutation` (RPC) and
 * `trpc.subscription` (a stream), each failing with the procedure's error shape as the router's transformer
 * serialised it. `createTrpcServer` serves it; `switchyardLink` calls it.
 *
 * @example
 * ```ts
 * import { createClient, websocketTransport } from "@switchyard/client-browser"
 * import { trpcContract } from "@switchyard/trpc"
 * import { switchyardLink } from "@switchyard/trpc/client"
 *
 * const client = createClient(trpcContract, { url, transports: [websocketTransport()] })
 * const link = switchyardLink({ client })
 * ```
 */
export const trpcContract = contract({
  rpc: {
    "trpc.query": rpc({ input: request, output: json, error: json }),
    "trpc.mutation": rpc({ input: request, output: json, error: json }),
  },
  streams: {
    "trpc.subscription": stream({ input: request, item, error: json }),
  },
})

/** The type of `trpcContract`. */
export type TrpcContract = typeof trpcContract

/** `contract` with the tRPC channels added: what `withTrpc` returns. */
export type WithTrpc<C extends AnyContract> = Contract<
  C["rpc"] & TrpcContract["rpc"],
  C["streams"] & TrpcContract["streams"],
  C["topics"],
  C["peers"]
>

/**
 * An app's contract with the tRPC channels added, to serve a tRPC router and the app's own channels from
 * one server (`trpcHandlers`) and call both over one session: `client.rpc.*` for the contract, and
 * `switchyardLink({ client })` for the router. Throws when the contract already has a channel of that name.
 *
 * @example
 * ```ts
 * import { createClient, websocketTransport } from "@switchyard/client-browser"
 * import { withTrpc } from "@switchyard/trpc"
 * import { switchyardLink } from "@switchyard/trpc/client"
 * import { createTRPCClient } from "@trpc/client"
 * import superjson from "superjson"
 * import type { AppRouter } from "./router.ts" // your tRPC router
 *
 * const Api = withTrpc(Chat)
 * const client = createClient(Api, { url, transports: [websocketTransport()] })
 * const trpc = createTRPCClient<AppRouter>({ links: [switchyardLink({ client, transformer: superjson })] })
 * await client.rpc.add({ a: 1, b: 2 }) // the contract, and the router on the same session:
 * await trpc.whoami.query()
 * ```
 */
export function withTrpc<C extends AnyContract>(app: C): WithTrpc<C> {
  const taken = (names: readonly string[]) =>
    names.filter((name) => name in trpcContract.rpc || name in trpcContract.streams)
  const clash = taken([...Object.keys(app.rpc), ...Object.keys(app.streams)])
  if (clash.length > 0) {
    throw new TypeError(`switchyard: ${JSON.stringify(clash[0])} is a channel of tRPC's; rename it in the contract`)
  }
  return contract({
    rpc: { ...app.rpc, ...trpcContract.rpc },
    streams: { ...app.streams, ...trpcContract.streams },
    topics: app.topics,
    peers: app.peers,
  }) as unknown as WithTrpc<C>
}
