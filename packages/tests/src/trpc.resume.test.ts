// Drop and resume (issue 13): 100 tRPC mutations in flight and an open subscription when the connection is
// cut. Over switchyardLink every mutation runs once on the server and resolves once with its result, and
// the subscription's items arrive complete and in order, with no lastEventId handling in the procedure.
// The same run over tRPC's wsLink is measured and printed, not asserted: docs/trpc.md has its figures.
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { longPollingTransport, pollingTransport, sseTransport, websocketTransport } from "@switchyard/client-browser"
import type { ClientTransport } from "@switchyard/core"
import { switchyardLink } from "@switchyard/trpc/client"
import { createTrpcServer } from "@switchyard/trpc/server"
import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
  type TRPCLink,
  wsLink,
} from "@trpc/client"
import { initTRPC, tracked } from "@trpc/server"
import { createHTTPServer } from "@trpc/server/adapters/standalone"
import { applyWSSHandler } from "@trpc/server/adapters/ws"
import { EventSource } from "eventsource"
import { describe, expect, it, vi } from "vitest"
import WebSocket, { WebSocketServer } from "ws"
import { z } from "zod"
import { fastReconnect } from "./support/harnesses.ts"
import { latch } from "./support/latch.ts"
import { TcpProxy } from "./support/tcpProxy.ts"

const MUTATIONS = 100
const ITEMS = 200
const HELD_AT = 30

/** The server's side of one run: how often each mutation ran, and the gate that holds them all in flight. */
function createResumeRouter() {
  const t = initTRPC.create()
  const runs = new Map<number, number>()
  const { opened: gate, open } = latch()
  const router = t.router({
    record: t.procedure.input(z.object({ i: z.number().int() })).mutation(async ({ input }) => {
      runs.set(input.i, (runs.get(input.i) ?? 0) + 1)
      await gate
      return input.i * 2
    }),
    // No lastEventId handling: after a restart it starts again from 0. It holds at item 30 until the
    // mutations are let go, so that it is open across the cut.
    feed: t.procedure.subscription(async function* () {
      for (let n = 0; n < ITEMS; n++) {
        if (n === HELD_AT) await gate
        yield tracked(String(n), n)
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
    }),
  })
  return { router, runs, open }
}

type ResumeRouter = ReturnType<typeof createResumeRouter>["router"]

interface Outcome {
  readonly resolved: number
  readonly rejected: number
  readonly wrong: number
  readonly ranTwice: number
  readonly neverRan: number
  readonly items: readonly number[]
  readonly subscriptionError: string | undefined
}

/**
 * Starts the subscription and 50 mutations, cuts every connection once the server runs them and items
 * flow, calls 50 more while the client reconnects, lets the mutations finish, and waits for everything.
 */
async function dropAndResume(
  trpc: TRPCClient<ResumeRouter>,
  server: ReturnType<typeof createResumeRouter>,
  proxy: TcpProxy,
): Promise<Outcome> {
  const items: number[] = []
  let subscriptionError: string | undefined
  const subscriptionEnded = new Promise<void>((resolve) => {
    trpc.feed.subscribe(undefined, {
      onData: (item) => items.push(item.data),
      onError: (error) => {
        subscriptionError = error.message
        resolve()
      },
      onComplete: resolve,
    })
  })
  const settle = (i: number) =>
    trpc.record.mutate({ i }).then(
      (value) => (value === i * 2 ? "resolved" : "wrong"),
      () => "rejected",
    )
  const calls = Array.from({ length: MUTATIONS / 2 }, (_, i) => settle(i))
  await vi.waitFor(
    () => {
      expect(server.runs.size).toBe(MUTATIONS / 2)
      expect(items.length).toBe(HELD_AT)
    },
    { timeout: 10_000 },
  )
  expect(proxy.drop()).toBeGreaterThan(0)
  for (let i = MUTATIONS / 2; i < MUTATIONS; i++) calls.push(settle(i))
  setTimeout(server.open, 50)
  const results = await Promise.all(calls)
  await Promise.race([subscriptionEnded, new Promise((resolve) => setTimeout(resolve, 5000))])
  const counts = [...Array(MUTATIONS).keys()].map((i) => server.runs.get(i) ?? 0)
  return {
    resolved: results.filter((r) => r === "resolved").length,
    rejected: results.filter((r) => r === "rejected").length,
    wrong: results.filter((r) => r === "wrong").length,
    ranTwice: counts.filter((c) => c > 1).length,
    neverRan: counts.filter((c) => c === 0).length,
    items,
    subscriptionError,
  }
}

const transports: Record<string, () => ClientTransport> = {
  websocket: () => websocketTransport({ WebSocket: WebSocket as never }),
  sse: () => sseTransport({ EventSource }),
  "long-polling": () => longPollingTransport(),
  polling: () => pollingTransport(),
}

describe("tRPC over Switchyard: a dropped connection under 100 mutations and a subscription", () => {
  it.each(Object.keys(transports))(
    "over %s every mutation settles once and the subscription is whole",
    async (name) => {
      const resume = createResumeRouter()
      const server = createTrpcServer(resume.router, { onError: () => {} })
      const { port } = await server.listen(0, "127.0.0.1")
      await using proxy = await TcpProxy.start(port)
      const link = switchyardLink<ResumeRouter>({
        url: `http://127.0.0.1:${proxy.port}/switchyard`,
        transports: [(transports[name] as () => ClientTransport)()],
        reconnect: fastReconnect,
      })
      const sessions: boolean[] = []
      link.client.on("session", ({ recovered }) => sessions.push(recovered))
      const trpc = createTRPCClient<ResumeRouter>({ links: [link as TRPCLink<ResumeRouter>] })
      try {
        const outcome = await dropAndResume(trpc, resume, proxy)
        expect(outcome).toEqual({
          resolved: MUTATIONS,
          rejected: 0,
          wrong: 0,
          ranTwice: 0,
          neverRan: 0,
          items: [...Array(ITEMS).keys()],
          subscriptionError: undefined,
        })
        // The same session throughout: a resume, not a new session.
        expect(sessions[0]).toBe(false)
        expect(sessions.slice(1)).not.toContain(false)
        expect(sessions.length).toBeGreaterThan(1)
      } finally {
        await link.client.close()
        await server.close()
      }
    },
  )
})

/** Prints what a link of tRPC's own lost in the cut (docs/trpc.md#guarantees has the figures). */
function report(link: string, outcome: Outcome): void {
  const inOrder = outcome.items.every((n, k) => k === 0 || n > (outcome.items[k - 1] as number))
  console.log(
    `${link} after a cut: ${outcome.resolved} of ${MUTATIONS} mutations resolved, ${outcome.rejected} rejected, ` +
      `${outcome.ranTwice} ran twice, ${outcome.neverRan} never ran; subscription: ${outcome.items.length} items ` +
      `for ${ITEMS} sent, ${new Set(outcome.items).size} distinct, ${inOrder ? "in order" : "out of order"}` +
      (outcome.subscriptionError ? `, error ${outcome.subscriptionError}` : ""),
  )
}

describe("tRPC's httpBatchLink + httpSubscriptionLink under the same cut (measured, not asserted)", () => {
  it("reports what they lose", async () => {
    const resume = createResumeRouter()
    const http = createHTTPServer({ router: resume.router })
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
    await using proxy = await TcpProxy.start((http.address() as AddressInfo).port)
    const url = `http://127.0.0.1:${proxy.port}`
    const trpc = createTRPCClient<ResumeRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url, EventSource }),
          false: httpBatchLink({ url }),
        }),
      ],
    })
    try {
      const outcome = await dropAndResume(trpc, resume, proxy)
      report("httpBatchLink + httpSubscriptionLink", outcome)
      expect(outcome.resolved + outcome.rejected + outcome.wrong).toBe(MUTATIONS)
    } finally {
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    }
  })
})

describe("tRPC's wsLink under the same cut (measured, not asserted)", () => {
  it("reports what it loses", async () => {
    const resume = createResumeRouter()
    const http = createServer((_request, response) => response.writeHead(426).end())
    const wss = new WebSocketServer({ server: http })
    const handler = applyWSSHandler({ wss, router: resume.router })
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
    await using proxy = await TcpProxy.start((http.address() as AddressInfo).port)
    const wsClient = createWSClient({
      url: `ws://127.0.0.1:${proxy.port}`,
      WebSocket: WebSocket as never,
      retryDelayMs: () => 10,
    })
    const trpc = createTRPCClient<ResumeRouter>({ links: [wsLink({ client: wsClient })] })
    try {
      const outcome = await dropAndResume(trpc, resume, proxy)
      report("wsLink", outcome)
      expect(outcome.resolved + outcome.rejected + outcome.wrong).toBe(MUTATIONS)
    } finally {
      await wsClient.close()
      handler.broadcastReconnectNotification()
      for (const socket of wss.clients) socket.terminate()
      wss.close()
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    }
  })
})
