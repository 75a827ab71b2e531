import type { Client } from "@switchyard/core"
import { type TestContract, waitFor } from "@switchyard/core/testing"
import type { Server } from "@switchyard/server-node"

/**
 * Traffic across a transport switch: `perTick` numbers published on `feed("k")` every `everyMs`, kept by
 * the client's subscription, and `add` called in a loop (each result minus its input must be 1). The
 * publisher is cleared by `cleanup` if the test ends first.
 */
export function traffic(
  server: Server<TestContract>,
  client: Client<TestContract>,
  cleanup: Array<() => Promise<void> | void>,
  { perTick = 5, everyMs = 2 } = {},
) {
  const messages: number[] = []
  client.topics.feed("k").subscribe((n) => messages.push(n))
  let published = 0
  const publisher = setInterval(() => {
    for (let i = 0; i < perTick; i++) server.topics.feed("k").publish(++published)
  }, everyMs)
  cleanup.push(() => clearInterval(publisher))
  const results: number[] = []
  let calling = true
  const caller = (async () => {
    for (let i = 0; calling; i++) results.push((await client.rpc.add({ a: i, b: 1 })) - i)
  })()
  return {
    messages,
    results,
    /** Stops both, waits until the client has everything published, and returns how many that was. */
    async stop() {
      clearInterval(publisher)
      calling = false
      await caller
      await waitFor(() => messages.at(-1) === published, 5000, "every published message")
      return published
    },
  }
}
