import http from "node:http"
import { createClient, longPollingTransport, websocketTransport } from "@switchyard/client-browser"
import { nodeFetch } from "@switchyard/client-browser/node"
import { TestContract } from "@switchyard/core/testing"
import WebSocket from "ws"

/**
 * An honest client from `localAddress` (any 127.x.y.z binds on loopback): connects on `transport`, makes
 * one RPC, closes. Resolves with the time from `createClient` to the RPC's result (ms); rejects when the
 * RPC fails or has no answer within `timeoutMs`.
 */
export async function firstRpcMs(
  url: string,
  transport: "websocket" | "long-polling",
  localAddress: string,
  timeoutMs = 5000,
): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, localAddress })
  const Bound = class extends WebSocket {
    constructor(address: string) {
      super(address, { localAddress })
    }
  }
  const started = performance.now()
  const client = createClient(TestContract, {
    url,
    transports: [
      transport === "websocket"
        ? websocketTransport({ WebSocket: Bound })
        : longPollingTransport({ fetch: nodeFetch({ httpAgent: agent }) }),
    ],
  })
  try {
    const sum = await client.rpc.add({ a: 2, b: 3 }, { signal: AbortSignal.timeout(timeoutMs) })
    if (sum !== 5) throw new Error(`add answered ${sum}`)
    return performance.now() - started
  } finally {
    await client.close()
    agent.destroy()
  }
}
