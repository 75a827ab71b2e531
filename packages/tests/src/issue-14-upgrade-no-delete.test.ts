// An HTTP link that the session leaves for a better transport is closed by the server (the HELLO on the
// new link replaces it). The client used to DELETE it as well, which got a 410: harmless, but a browser
// logs every 410 as a console error, so each page that upgraded from long polling showed one (found by
// the p2p game tutorial's Chromium test, issue 14). A link the client closes itself still gets its DELETE.
import { createClient } from "@switchyard/client-browser/all"
import { nodeFetch } from "@switchyard/client-browser/node"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { fastReconnect } from "./support/harnesses.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A server, and a fetch that records the status of every DELETE the client sends. */
async function start() {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, { onError: () => {} })
  const { url } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  const deletes: number[] = []
  const inner = nodeFetch()
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const response = await inner(String(input), init)
    if (init?.method === "DELETE") deletes.push(response.status)
    return response
  }
  return { url, fetch, deletes }
}

describe("closing an HTTP link (issue 14)", () => {
  it("sends no DELETE for the long-polling link an upgrade leaves, which the server closes itself", async () => {
    const { url, fetch, deletes } = await start()
    const client = createClient(TestContract, { url, WebSocket, fetch, reconnect: fastReconnect })
    cleanup.push(() => client.close())
    const switches: string[] = []
    client.on("transport", (name, reason) => switches.push(`${name} ${reason}`))
    await waitFor(() => client.transport === "websocket", 5000, "the upgrade to WebSocket")
    expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(switches).toEqual(["long-polling connected", "websocket upgrade"])
    expect(deletes).toEqual([])
  })

  it("still DELETEs a link the client closes itself, and the server takes it (204)", async () => {
    const { url, fetch, deletes } = await start()
    const client = createClient(TestContract, { url, fetch, transports: ["long-polling"], reconnect: fastReconnect })
    expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
    await client.close()
    await waitFor(() => deletes.length === 1, 2000, "the DELETE of the closed link")
    expect(deletes).toEqual([204])
  })
})
