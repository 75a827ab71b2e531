// tRPC v11: a mutation that returns its input, served by `applyWSSHandler` on a `ws` server and called
// through `wsLink` + `createWSClient`. The input parser is a hand-written type guard (what a zod object
// schema checks, without adding zod); there is no output parser and no transformer (plain JSON).
import { createServer } from "node:http"
import { createTRPCClient, createWSClient, wsLink } from "@trpc/client"
import { initTRPC } from "@trpc/server"
import { applyWSSHandler } from "@trpc/server/adapters/ws"
import WebSocket, { WebSocketServer } from "ws"

export const name = "trpc"
export const label = "tRPC wsLink"

const t = initTRPC.create()

const echoInput = (value) => {
  if (typeof value !== "object" || value === null || typeof value.n !== "number" || typeof value.s !== "string") {
    throw new TypeError("expected { n: number, s: string }")
  }
  return { n: value.n, s: value.s }
}

export const router = t.router({
  echo: t.procedure.input(echoInput).mutation(({ input }) => input),
})

export async function startServer() {
  const http = createServer((_request, response) => response.writeHead(426).end())
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 1024 * 1024 })
  const handler = applyWSSHandler({ wss, router })
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve))
  return {
    url: `ws://127.0.0.1:${http.address().port}`,
    async close() {
      handler.broadcastReconnectNotification()
      for (const socket of wss.clients) socket.terminate()
      wss.close()
      await new Promise((resolve) => http.close(resolve))
    },
  }
}

export async function connectClient(url) {
  const wsClient = createWSClient({ url, WebSocket })
  const client = createTRPCClient({ links: [wsLink({ client: wsClient })] })
  // The first call waits for the socket to open.
  await client.echo.mutate({ n: 0, s: "connect" })
  return {
    call: (payload) => client.echo.mutate(payload),
    async close() {
      await wsClient.close()
    },
  }
}
