import type { IncomingMessage } from "node:http"
import type { Client, SwitchyardError } from "@switchyard/core"
import { TestContract, testHandlers } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import { checkedPage, servePage } from "./support/chromium.ts"

/**
 * Issue 12, item 8, in Chromium: the page's client sends credentials with its `auth` option and applies
 * new ones with `reauthenticate()`; the next call sees them. A refused refresh changes nothing; the browser
 * shows the 401 to fetch (long polling: `AUTH_REFUSED`) but not to its WebSocket (`CONNECTION_LOST`), as
 * docs/sessions.md#credentials says.
 */

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** Each accepted token's number: `add` answers a + b + that number, so a call tells whose `ctx.auth` it ran with. */
const tokens: Record<string, number> = { alice: 100, "alice-2": 200 }

function authenticate(request: IncomingMessage): { readonly n: number } {
  const query = new URL(request.url ?? "/", "http://x").searchParams.get("token")
  const token = request.headers.authorization?.replace(/^Bearer /, "") ?? query ?? ""
  const n = tokens[token]
  if (n === undefined) throw new Error("not signed in")
  return { n }
}

async function pageClient(transport: "websocket" | "long-polling") {
  const handlers = testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract, { readonly n: number }>
  const server = createServer(
    TestContract,
    { ...handlers, rpc: { ...handlers.rpc, add: ({ a, b }, ctx) => a + b + ctx.auth.n } },
    { authenticate, onError: () => {} },
  )
  cleanup.push(() => server.close())
  const site = await servePage(server, cleanup)
  const remote = await checkedPage(`${site.origin}/`, cleanup)
  const client = remote.createClient(TestContract, `${site.origin}/switchyard`, {
    transports: [transport],
    reconnect: { initialDelayMs: 10, maxDelayMs: 100 },
    auth: { params: { token: "alice" } },
  }) as Client<typeof TestContract>
  cleanup.push(() => client.close())
  const states: string[] = []
  client.on("state", (state) => states.push(state))
  return { client, states }
}

describe("credentials in Chromium", () => {
  it.each([
    ["long-polling", "AUTH_REFUSED"],
    ["websocket", "CONNECTION_LOST"],
  ] as const)(
    "%s: reauthenticate() changes ctx.auth for the next call; a refused one (%s) changes nothing",
    async (transport, refusal) => {
      const { client, states } = await pageClient(transport)
      expect(await client.rpc.add({ a: 1, b: 2 })).toBe(103)
      // Headers on fetch; a browser's WebSocket cannot send them, so it gets a query parameter.
      await client.reauthenticate(
        transport === "websocket" ? { params: { token: "alice-2" } } : { headers: { authorization: "Bearer alice-2" } },
      )
      expect(await client.rpc.add({ a: 1, b: 2 })).toBe(203)
      const refused = (await client
        .reauthenticate({ params: { token: "mallory" } })
        .catch((e: SwitchyardError) => e)) as SwitchyardError
      expect(refused.code).toBe(refusal)
      expect(client.state).toBe("connected")
      expect(await client.rpc.add({ a: 1, b: 2 })).toBe(203)
      expect(states.filter((s) => s !== "connected")).toEqual([])
    },
  )
})
