import { createClient, type FetchLike } from "@switchyard/client-browser/all"
import type { Client, TransportId } from "@switchyard/core"
import { TestContract, waitFor } from "@switchyard/core/testing"
import { EventSource } from "eventsource"
import { expect } from "vitest"
import type WebSocket from "ws"
import { fastReconnect, freshStorage } from "./harnesses.ts"

/** How long a probe may take before it counts as failed, here: the default 3 s would only make tests slower. */
export const probeTimeoutMs = 1000

/**
 * A client negotiating among every transport (no `transports`: WebSocket, SSE, long polling, polling), with
 * the platform constructors given (a proxy's agent inside them), a memory of its own, and what it went
 * through: the transports it moved to, the time of its first RPC and of its last move.
 */
export function negotiatingClient(url: string, platform: { WebSocket: typeof WebSocket; fetch: FetchLike }) {
  const storage = freshStorage()
  const created = performance.now()
  const client: Client<TestContract> = createClient(TestContract, {
    url,
    WebSocket: platform.WebSocket,
    EventSource,
    fetch: platform.fetch,
    reconnect: fastReconnect,
    connectTimeoutMs: 5000,
    negotiation: { storage, probeTimeoutMs },
  })
  const moves: Array<[TransportId, string]> = []
  let lastMoveMs = 0
  client.on("transport", (name, reason) => {
    moves.push([name, reason])
    lastMoveMs = performance.now() - created
  })
  /** The transports the client remembers as failed for this server. */
  const failed = (): string[] => {
    const [memory] = [...storage.map.values()]
    return Object.keys((memory ? (JSON.parse(memory) as { failed?: object }).failed : undefined) ?? {}).sort()
  }
  return {
    client,
    moves,
    failed,
    /**
     * Makes the first RPC, then waits until the client is on `best` with exactly `failing` remembered as
     * failed (every probe above `best` has failed), checks that it stays there past another probe timeout,
     * and returns the figures: the time to the first RPC and to the last move.
     */
    async settles(best: TransportId, failing: readonly TransportId[]) {
      expect(await client.rpc.add({ a: 1, b: 2 })).toBe(3)
      const firstRpcMs = performance.now() - created
      await waitFor(
        () => client.transport === best && failed().join() === [...failing].sort().join(),
        15_000,
        `the client on ${best} with ${failing.join(", ") || "nothing"} failed (on ${client.transport}, failed: ${failed().join(", ")})`,
      )
      await new Promise((resolve) => setTimeout(resolve, probeTimeoutMs + 300))
      expect({ on: client.transport, failed: failed() }).toEqual({ on: best, failed: [...failing].sort() })
      expect(await client.rpc.add({ a: 20, b: 22 })).toBe(42)
      return { firstRpcMs: Math.round(firstRpcMs), settledMs: Math.round(lastMoveMs), moves }
    },
  }
}
