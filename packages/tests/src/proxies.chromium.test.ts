import type { Client } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import { checkedPage, chromiumBrowser, servePage } from "./support/chromium.ts"
import { probeTimeoutMs } from "./support/proxied.ts"
import { Squid } from "./support/squid.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/**
 * Chromium with squid as its proxy (a browser context with `proxy`, loopback included): the page, its
 * requests and its WebSocket all go through squid, and the client in the page negotiates among every
 * transport with the browser's own WebSocket, EventSource and fetch (docs/proxies.md).
 */
async function pageThrough(squid: Squid) {
  const server = createServer(TestContract, testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>, {
    onError: () => {},
  })
  cleanup.push(() => server.close())
  const site = await servePage(server, cleanup)
  const context = await (await chromiumBrowser()).newContext({ proxy: { server: squid.url } })
  cleanup.push(() => context.close())
  const page = await context.newPage()
  const origin = `http://127.0.0.1:${site.port}`
  const remote = await checkedPage(`${origin}/`, cleanup, page)
  const url = `${origin}/switchyard`
  const created = performance.now()
  const client = remote.createClient(TestContract, url, { reconnect: { initialDelayMs: 10, maxDelayMs: 100 } })
  cleanup.push(() => client.close())
  /** What the page's client remembers as failed (its localStorage). */
  const failed = async () => {
    const memory = await page.evaluate((key) => localStorage.getItem(key), `switchyard:transports:${url}`)
    return Object.keys((memory ? (JSON.parse(memory) as { failed?: object }).failed : undefined) ?? {}).sort()
  }
  return { client: client as Client<TestContract>, created, failed, port: site.port }
}

describe("Chromium through squid", () => {
  it.each([
    ["allowing CONNECT tunnels", true, "websocket", []],
    ["refusing CONNECT tunnels", false, "sse", ["websocket"]],
  ] as const)(
    "%s, the page's session ends on the best transport squid lets through",
    async (name, tunnels, best, failing) => {
      const squid = await Squid.start({ tunnels })
      cleanup.push(() => squid[Symbol.asyncDispose]())
      const { client, created, failed, port } = await pageThrough(squid)
      expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
      const firstRpcMs = Math.round(performance.now() - created)
      let lastFailed: string[] = []
      await waitFor(
        () => {
          void failed().then((f) => (lastFailed = f))
          return client.transport === best && lastFailed.join() === [...failing].join()
        },
        15_000,
        `the page on ${best}`,
      )
      await new Promise((resolve) => setTimeout(resolve, probeTimeoutMs + 300))
      expect({ on: client.transport, failed: await failed() }).toEqual({ on: best, failed: [...failing] })
      expect(await client.rpc.add({ a: 20, b: 22 })).toBe(42)
      console.log(
        `[proxies] Chromium, squid ${name}: first RPC after ${firstRpcMs} ms (through Playwright), on ${best}`,
      )
      // The page itself came through squid, as an absolute-URI request.
      const requests = await squid.requests((r) => r.includes(`GET http://127.0.0.1:${port}/`))
      expect(requests).toContain(`GET http://127.0.0.1:${port}/`)
    },
  )
})
