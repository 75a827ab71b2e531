// One real tRPC v11 app, served and called four ways for the parity tests (trpc.parity.test.ts): tRPC's
// own HTTP adapter (httpBatchLink + httpSubscriptionLink), its ws adapter (wsLink), and Switchyard
// (createTrpcServer + switchyardLink) on each transport. The router uses what tRPC apps use: zod and an
// Effect schema (through Standard Schema) for inputs, TRPCErrors of several codes, a custom errorFormatter,
// superjson, a context from createContext, async-generator subscriptions with tracked(), an observable one.
import { once } from "node:events"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { longPollingTransport, pollingTransport, sseTransport, websocketTransport } from "@switchyard/client-browser"
import { switchyardLink } from "@switchyard/trpc/client"
import { createTrpcServer } from "@switchyard/trpc/server"
import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
  wsLink,
} from "@trpc/client"
import { initTRPC, TRPCError, tracked } from "@trpc/server"
import { createHTTPServer } from "@trpc/server/adapters/standalone"
import { applyWSSHandler } from "@trpc/server/adapters/ws"
import { observable } from "@trpc/server/observable"
import { Schema } from "effect"
import { EventSource } from "eventsource"
import superjson from "superjson"
import WebSocket, { WebSocketServer } from "ws"
import { z } from "zod"
import { fastReconnect } from "./harnesses.ts"

export interface AppContext {
  readonly user: string | undefined
}

/** What the server saw, for assertions on the server side (aborts, subscriptions ended). */
export interface ServerLog {
  readonly events: string[]
}

export const errorCodes = ["UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "TOO_MANY_REQUESTS"] as const

const Pair = Schema.toStandardSchemaV1(Schema.Struct({ a: Schema.Number, b: Schema.Number }))

/** The app's router, with its own log; a new one per server so that the links' runs stay apart. */
export function createAppRouter(log: ServerLog) {
  const t = initTRPC.context<AppContext>().create({
    transformer: superjson,
    isDev: false,
    errorFormatter: ({ shape, error }) => ({
      ...shape,
      data: {
        ...shape.data,
        formatted: true,
        issues:
          error.cause !== undefined && "issues" in error.cause && Array.isArray(error.cause.issues)
            ? error.cause.issues.length
            : null,
      },
    }),
  })
  let counter = 0
  return t.router({
    whoami: t.procedure.query(({ ctx }) => ctx.user ?? null),
    greet: t.procedure
      .input(z.object({ name: z.string().min(1) }))
      .query(({ input, ctx }) => `hello ${input.name}, from ${ctx.user}`),
    dates: t.procedure.input(z.object({ at: z.date() })).query(({ input }) => ({
      next: new Date(input.at.getTime() + 1000),
      tags: new Set(["a", "b"]),
      big: 10n ** 20n,
    })),
    add: t.procedure.input(Pair).mutation(({ input }) => input.a + input.b),
    increment: t.procedure.input(z.object({ by: z.number().int() })).mutation(({ input }) => {
      counter += input.by
      return counter
    }),
    refuse: t.procedure.input(z.object({ code: z.enum(errorCodes) })).mutation(({ input }) => {
      throw new TRPCError({ code: input.code, message: `refused: ${input.code}` })
    }),
    crash: t.procedure.query(() => {
      throw new Error("boom")
    }),
    slow: t.procedure.input(z.object({ tag: z.string() })).query(
      ({ input, signal }) =>
        new Promise<string>((_resolve, reject) => {
          log.events.push(`slow ${input.tag} started`)
          signal?.addEventListener("abort", () => {
            log.events.push(`slow ${input.tag} aborted`)
            reject(new Error("aborted"))
          })
        }),
    ),
    ticks: t.procedure
      .input(z.object({ count: z.number().int(), lastEventId: z.string().optional() }))
      .subscription(async function* ({ input }) {
        const from = input.lastEventId === undefined ? 0 : Number(input.lastEventId) + 1
        for (let n = from; n < input.count; n++) yield tracked(String(n), { n, at: new Date(n * 1000) })
      }),
    forever: t.procedure.input(z.object({ tag: z.string() })).subscription(async function* ({ input, signal }) {
      log.events.push(`forever ${input.tag} started`)
      try {
        yield 1
        await new Promise((resolve) => signal?.addEventListener("abort", resolve))
      } finally {
        log.events.push(`forever ${input.tag} ended`)
      }
    }),
    legacy: t.procedure.subscription(() =>
      observable<number>((emit) => {
        emit.next(1)
        emit.next(2)
        emit.complete()
        return () => {}
      }),
    ),
    failing: t.procedure.subscription(async function* () {
      yield "first"
      throw new TRPCError({ code: "FORBIDDEN", message: "no more" })
    }),
  })
}

export type AppRouter = ReturnType<typeof createAppRouter>

/** A client of the app and what to close after the test. */
export interface AppFixture {
  readonly trpc: TRPCClient<AppRouter>
  readonly log: ServerLog
  /** Whether aborting a query aborts its `signal` on the server (tRPC's wsLink never tells the server). */
  readonly cancelsQueries: boolean
  close(): Promise<void>
}

export interface AppHarness {
  readonly name: string
  start(token: string): Promise<AppFixture>
}

const listening = async (server: Server) => {
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  return (server.address() as AddressInfo).port
}

/** tRPC's own HTTP adapter: httpBatchLink for queries and mutations, httpSubscriptionLink for subscriptions. */
export const httpHarness: AppHarness = {
  name: "tRPC httpBatchLink + httpSubscriptionLink",
  async start(token) {
    const log: ServerLog = { events: [] }
    const server = createHTTPServer({
      router: createAppRouter(log),
      createContext: ({ req, info }) => ({
        user: (req.headers.authorization ?? (info.connectionParams?.token as string | undefined)) || undefined,
      }),
    })
    const url = `http://127.0.0.1:${await listening(server)}`
    const trpc = createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url, transformer: superjson, EventSource, connectionParams: { token } }),
          false: httpBatchLink({ url, transformer: superjson, headers: { authorization: token } }),
        }),
      ],
    })
    return {
      trpc,
      log,
      cancelsQueries: true,
      async close() {
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      },
    }
  },
}

/** tRPC's own ws adapter and wsLink. */
export const wsHarness: AppHarness = {
  name: "tRPC wsLink",
  async start(token) {
    const log: ServerLog = { events: [] }
    const http = createServer((_request, response) => response.writeHead(426).end())
    const wss = new WebSocketServer({ server: http })
    const handler = applyWSSHandler({
      wss,
      router: createAppRouter(log),
      createContext: ({ info }) => ({ user: (info.connectionParams?.token as string | undefined) || undefined }),
    })
    const url = `ws://127.0.0.1:${await listening(http)}`
    const wsClient = createWSClient({ url, WebSocket: WebSocket as never, connectionParams: { token } })
    const trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient, transformer: superjson })] })
    return {
      trpc,
      log,
      cancelsQueries: false,
      async close() {
        await wsClient.close()
        handler.broadcastReconnectNotification()
        for (const socket of wss.clients) socket.terminate()
        wss.close()
        http.closeAllConnections()
        await new Promise((resolve) => http.close(resolve))
      },
    }
  },
}

const transports = {
  websocket: () => websocketTransport({ WebSocket: WebSocket as never }),
  sse: () => sseTransport({ EventSource }),
  "long-polling": () => longPollingTransport(),
  polling: () => pollingTransport(),
}

/** Switchyard: createTrpcServer and switchyardLink on one transport (through splitLink, to show it composes). */
export function switchyardHarness(transport: keyof typeof transports): AppHarness {
  return {
    name: `switchyardLink over ${transport}`,
    async start(token) {
      const log: ServerLog = { events: [] }
      const server = createTrpcServer(createAppRouter(log), {
        authenticate: (request) => new URL(request.url ?? "/", "http://x").searchParams.get("token") ?? undefined,
        createContext: ({ auth }) => ({ user: auth }),
        onError: () => {},
      })
      const { url } = await server.listen(0, "127.0.0.1")
      const link = switchyardLink<AppRouter>({
        url,
        transports: [transports[transport]()],
        auth: { params: { token } },
        reconnect: fastReconnect,
        transformer: superjson,
      })
      const trpc = createTRPCClient<AppRouter>({
        links: [splitLink({ condition: (op) => op.type === "subscription", true: link, false: link })],
      })
      return {
        trpc,
        log,
        cancelsQueries: true,
        async close() {
          await link.client.close()
          await server.close()
        },
      }
    },
  }
}
