// tRPC v11 over Switchyard: the router of trpc.mjs (a mutation that returns its input, the same type guard,
// no transformer) served by `createTrpcServer` and called through `switchyardLink` over WebSocket. Beside
// tRPC's own `wsLink` (trpc.mjs) and `httpBatchLink` (trpcHttp.mjs), and Switchyard's own RPC
// (switchyard-std, the same guard as a Standard Schema): what the tRPC layer costs on top of the session.
import { websocketTransport } from "@switchyard/client-browser"
import { switchyardLink } from "@switchyard/trpc/client"
import { createTrpcServer } from "@switchyard/trpc/server"
import { createTRPCClient } from "@trpc/client"
import WebSocket from "ws"
import { router } from "./trpc.mjs"

export const name = "trpc-switchyard"
export const label = "tRPC over Switchyard (switchyardLink, WebSocket)"

/** As for the other Switchyard rows: the per-connection rate is lifted, the bench measures the transport. */
const benchLimits = {
  connectionFramesPerSecond: Number.POSITIVE_INFINITY,
  connectionBytesPerSecond: Number.POSITIVE_INFINITY,
}

export async function startServer() {
  const server = createTrpcServer(router, { limits: benchLimits })
  const { url } = await server.listen(0, "127.0.0.1")
  return { url, close: () => server.close() }
}

export async function connectClient(url) {
  const link = switchyardLink({ url, transports: [websocketTransport({ WebSocket })] })
  const client = createTRPCClient({ links: [link] })
  // The first call waits for the connection.
  await client.echo.mutate({ n: 0, s: "connect" })
  return {
    call: (payload) => client.echo.mutate(payload),
    close: () => link.client.close(),
  }
}
