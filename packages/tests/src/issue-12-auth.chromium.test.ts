import type { IncomingMessage } from "node:http"
import type { Client, SwitchyardError } from "@switchyard/core"
import { TestContract, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"
import { checkedPage, servePage } from "./support/chromium.ts"

/**
 * Issue 12, item 8, in Chromium: the page's client sends credentials with its `auth` option and applies
 * new ones with `reauthenticate()`; the next call sees them. A refused refresh changes nothing, and says
 * `AUTH_REFUSED` on both transports: long polling reads the 401, and the server completes a refused
 * WebSocket upgrade only to close it with 4211, which a browser's WebSocket shows where it hides the HTTP
 * status (docs/errors.md#refusals-on-a-websocket). A refused connection is reported to the app as
 * `AUTH_REFUSED` too.
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
    ["websocket", "AUTH_REFUSED"],
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

describe("a refusal a browser's WebSocket can see", () => {
  it("a connection authenticate refuses reports AUTH_REFUSED, not a network failure", async () => {
    const server = createServer(
      TestContract,
      testHandlers({ aborted: new Set() }) as unknown as Handlers<TestContract>,
      {
        authenticate,
        onError: () => {},
      },
    )
    cleanup.push(() => server.close())
    const site = await servePage(server, cleanup)
    const remote = await checkedPage(`${site.origin}/`, cleanup)
    const refused = remote.createClient(TestContract, `${site.origin}/switchyard`, {
      transports: ["websocket"],
      reconnect: { initialDelayMs: 10, maxDelayMs: 100 },
      auth: { params: { token: "mallory" } },
    }) as Client<typeof TestContract>
    cleanup.push(() => refused.close())
    const codes: string[] = []
    refused.on("error", (error) => codes.push(error.code))
    await waitFor(() => codes.length >= 2, 5000, "two refusals")
    expect(new Set(codes)).toEqual(new Set(["AUTH_REFUSED"]))
    expect(refused.state).not.toBe("connected")
  })
})
