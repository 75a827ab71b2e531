import { createClient } from "@switchyard/client-browser/all"
import { contract, type SwitchyardError, topic } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import * as Schema from "effect/Schema"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { testClientOptions } from "./support/harnesses.ts"

/**
 * Issue 12, item 10: what `subscribe()` returns is still the unsubscribe function, with a `ready` promise
 * that settles with the server's answer (docs/topics.md#waiting-for-the-confirmation).
 */

const Feeds = contract({
  rpc: {},
  streams: {},
  topics: { feed: topic({ message: Schema.Number }) },
})

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function setup() {
  /** Answers of the asynchronous policy, held until the test lets them go. */
  const held: Array<() => void> = []
  const server = createServer(
    Feeds,
    {
      topics: {
        feed: {
          canSubscribe: (key) =>
            key === "secret" ? false : key.startsWith("slow") ? new Promise((r) => held.push(() => r(true))) : true,
        },
      },
    },
    { onError: () => {} },
  )
  const { url } = await server.listen(0, "127.0.0.1")
  cleanup.push(() => server.close())
  const client = createClient(Feeds, { url, transports: ["websocket"], WebSocket, ...testClientOptions })
  cleanup.push(() => client.close())
  return { server, client, held }
}

describe("subscribe() gives a handle whose ready promise tells the server's answer", () => {
  it("resolves once the server has confirmed: a message published then reaches the listener", async () => {
    const { server, client } = await setup()
    const got: number[] = []
    const off = client.topics.feed("k").subscribe((n) => got.push(n))
    expect(typeof off).toBe("function")
    await off.ready
    expect(server.topics.feed("k").subscribers).toBe(1)
    await server.topics.feed("k").publish(1)
    await waitFor(() => got.length === 1)
    // A key this client already holds is confirmed at once, for every later listener.
    const also: number[] = []
    const second = client.topics.feed("k").subscribe((n) => also.push(n))
    let settled = false
    void second.ready.then(() => {
      settled = true
    })
    await Promise.resolve()
    await Promise.resolve()
    expect(settled).toBe(true)
    // Still the unsubscribe function.
    off()
    second()
    await waitFor(() => server.topics.feed("k").subscribers === 0, 3000, "the unsubscribe")
  })

  it("waits for an asynchronous policy, and rejects with the refusal that onError hears", async () => {
    const { server, client, held } = await setup()
    let confirmed = false
    const slow = client.topics.feed("slow").subscribe(() => {})
    void slow.ready.then(() => {
      confirmed = true
    })
    await waitFor(() => held.length === 1, 3000, "the policy to be asked")
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(confirmed).toBe(false)
    held.shift()?.()
    await slow.ready
    expect(server.topics.feed("slow").subscribers).toBe(1)

    const heard: string[] = []
    const refused = client.topics.feed("secret").subscribe(() => {}, { onError: (e) => heard.push(e.code) })
    const error = (await refused.ready.catch((e: SwitchyardError) => e)) as SwitchyardError
    expect(error.code).toBe("FORBIDDEN")
    expect(heard).toEqual(["FORBIDDEN"])
  })

  it("still tells the server's answer after an unsubscribe made before it", async () => {
    const { client, held } = await setup()
    // The first subscribe loads the topics module; this one waits for the module before it is sent.
    await client.topics.feed("k").subscribe(() => {}).ready
    const off = client.topics.feed("slow-2").subscribe(() => {})
    await waitFor(() => held.length === 1, 3000, "the policy to be asked")
    off()
    held.shift()?.()
    await expect(off.ready).resolves.toBeUndefined()
  })

  it("rejects with CLIENT_CLOSED once the client is closed, and an ignored refusal is not unhandled", async () => {
    const { client, held } = await setup()
    // Ignored on purpose: vitest fails the run on an unhandled rejection.
    client.topics.feed("secret").subscribe(() => {})
    const pending = client.topics.feed("slow-3").subscribe(() => {})
    await waitFor(() => held.length === 1, 3000, "the policy to be asked")
    await client.close()
    expect(((await pending.ready.catch((e: SwitchyardError) => e)) as SwitchyardError).code).toBe("CLIENT_CLOSED")
    const after = client.topics.feed("k").subscribe(() => {})
    expect(((await after.ready.catch((e: SwitchyardError) => e)) as SwitchyardError).code).toBe("CLIENT_CLOSED")
  })
})
