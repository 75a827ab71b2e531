/**
 * The browser-side entry of the tRPC Chromium harness (trpcChromium.ts): a real tRPC client with
 * switchyardLink on the page's native WebSocket or fetch, driven from Node through `page.evaluate`. Each
 * operation's results go back through the exposed `trpcPush` binding, superjson-encoded, so that Node's
 * side can hand the same values and errors to the parity assertions.
 */
import { longPollingTransport, websocketTransport } from "@switchyard/client-browser"
import { switchyardLink } from "@switchyard/trpc/client"
import { createTRPCUntypedClient, TRPCClientError } from "@trpc/client"
import superjson from "superjson"

/** One message to Node about operation `id`. */
export type PageResult =
  | { readonly kind: "started" }
  | { readonly kind: "data"; readonly data: string }
  | { readonly kind: "complete" }
  | {
      readonly kind: "error"
      readonly message: string
      /** The error shape, superjson-encoded, when the server sent one. */
      readonly shape: string | undefined
      readonly cause: { readonly name: string; readonly code: string | undefined } | undefined
    }

export interface TrpcPageDriver {
  start(url: string, transport: "websocket" | "long-polling", token: string): void
  /** Starts operation `id`; its input is superjson-encoded. */
  op(id: number, type: "query" | "mutation" | "subscription", path: string, input: string): void
  /** Aborts the signal of operation `id`. */
  abort(id: number): void
  /** Unsubscribes subscription `id`. */
  unsubscribe(id: number): void
  close(): Promise<void>
}

declare const trpcPush: (id: number, result: PageResult) => void

let link: ReturnType<typeof switchyardLink> | undefined
let client: ReturnType<typeof createTRPCUntypedClient> | undefined
const controllers = new Map<number, AbortController>()
const subscriptions = new Map<number, { unsubscribe(): void }>()

function errorResult(error: unknown): PageResult {
  const cause = error instanceof TRPCClientError ? (error.cause as unknown) : error
  return {
    kind: "error",
    message: error instanceof Error ? error.message : String(error),
    shape: error instanceof TRPCClientError && error.shape !== undefined ? superjson.stringify(error.shape) : undefined,
    cause:
      cause instanceof Error
        ? {
            name: cause.name,
            code:
              typeof (cause as { code?: unknown }).code === "string"
                ? (cause as unknown as { code: string }).code
                : undefined,
          }
        : undefined,
  }
}

const driver: TrpcPageDriver = {
  start(url, transport, token) {
    link = switchyardLink({
      url,
      transports: [transport === "websocket" ? websocketTransport() : longPollingTransport()],
      auth: { params: { token } },
      reconnect: { initialDelayMs: 10, maxDelayMs: 100 },
      transformer: superjson,
    })
    client = createTRPCUntypedClient({ links: [link] })
  },
  op(id, type, path, encoded) {
    if (!client) throw new Error("start() first")
    const input = superjson.parse(encoded)
    const controller = new AbortController()
    controllers.set(id, controller)
    if (type === "subscription") {
      subscriptions.set(
        id,
        client.subscription(path, input, {
          signal: controller.signal,
          onStarted: () => trpcPush(id, { kind: "started" }),
          onData: (data) => trpcPush(id, { kind: "data", data: superjson.stringify(data) }),
          onError: (error) => trpcPush(id, errorResult(error)),
          onComplete: () => trpcPush(id, { kind: "complete" }),
        }),
      )
      return
    }
    client[type](path, input, { signal: controller.signal }).then(
      (data) => {
        trpcPush(id, { kind: "data", data: superjson.stringify(data) })
        trpcPush(id, { kind: "complete" })
      },
      (error: unknown) => trpcPush(id, errorResult(error)),
    )
  },
  abort(id) {
    controllers.get(id)?.abort()
  },
  unsubscribe(id) {
    subscriptions.get(id)?.unsubscribe()
  },
  async close() {
    await link?.client.close()
  },
}

;(globalThis as { trpcPage?: TrpcPageDriver }).trpcPage = driver
