// tRPC v11 over HTTP: the router of trpc.mjs served by tRPC's standalone HTTP adapter and called through
// `httpBatchLink` (calls of one tick batched into one request; keep-alive connections of Node's fetch).
import { createTRPCClient, httpBatchLink } from "@trpc/client"
import { createHTTPServer } from "@trpc/server/adapters/standalone"
import { router } from "./trpc.mjs"

export const name = "trpc-http"
export const label = "tRPC httpBatchLink"

export async function startServer() {
  const server = createHTTPServer({ router })
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

export async function connectClient(url) {
  const client = createTRPCClient({ links: [httpBatchLink({ url })] })
  await client.echo.mutate({ n: 0, s: "connect" })
  return { call: (payload) => client.echo.mutate(payload), close: async () => {} }
}
