import type { IncomingMessage, ServerResponse } from "node:http"
import { describe, expect, it } from "vitest"
import type { NodeMessage } from "./broker/nodeBus.ts"
import type { SessionCluster } from "./cluster.ts"
import { HttpRelay, type ServeLocal } from "./httpRelay.ts"
import { defaultLimits } from "./limits.ts"

/** What the relay uses of a cluster, with the messages it sends and a way to deliver one to it. */
function fakeCluster(nodeId: string) {
  let handler: ((from: string, m: NodeMessage) => boolean) | undefined
  const sent: Array<{ to: string; m: NodeMessage }> = []
  const cluster = {
    nodeId,
    nodes: { alive: () => true, send: (to: string, m: NodeMessage) => void sent.push({ to, m }) },
    use: (h: (from: string, m: NodeMessage) => boolean) => {
      handler = h
    },
  }
  return {
    cluster: cluster as unknown as SessionCluster,
    sent,
    deliver: (from: string, m: NodeMessage) => handler?.(from, m),
  }
}

/** Serves like SSE: keeps the response open, ends it when the request closes (as sse.ts's stop()). */
const sseLike: ServeLocal = (request: IncomingMessage, response: ServerResponse) => {
  response.writeHead(200, {})
  response.write("retry: 500\n\n")
  request.once("close", () => response.end())
}

describe("HttpRelay", () => {
  it("forgets a relayed request the client aborted (no entry left per closed SSE stream or long poll)", async () => {
    const owner = fakeCluster("a")
    const relay = new HttpRelay(owner.cluster, defaultLimits.maxMessageBytes, sseLike)
    for (let rid = 1; rid <= 1000; rid++) {
      owner.deliver("b", {
        t: "http",
        rid,
        method: "GET",
        url: "/switchyard?transport=sse&link=a.x",
        headers: {},
        body: "",
      })
      owner.deliver("b", { t: "http-abort", rid })
    }
    await new Promise((resolve) => setImmediate(resolve))
    expect(relay.servingCount).toBe(0)
    // The owner answered each request's head and nothing after the abort.
    expect(owner.sent.filter(({ m }) => m.t === "http-end")).toHaveLength(0)
  })
})
