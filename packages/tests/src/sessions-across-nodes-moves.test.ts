import { FrameType } from "@switchyard/core"
import { waitFor } from "@switchyard/core/testing"
import { describe, expect, it } from "vitest"
import WebSocket from "ws"
import { SessionClusterFixture } from "./support/sessionCluster.ts"

describe("what crosses the bus when a session moves", () => {
  it("never the session token: take-overs ask by its hash and the snapshot leaves it out", async () => {
    await using cluster = await SessionClusterFixture.start()
    const hellos: unknown[][] = []
    class Recording extends WebSocket {
      override send(data: unknown, ...rest: unknown[]): void {
        const frame = JSON.parse(String(data)) as unknown[]
        if (frame[0] === FrameType.HELLO) hellos.push(frame)
        ;(super.send as (...args: unknown[]) => void)(data, ...rest)
      }
    }
    const client = await cluster.client("websocket", Recording)
    const sessionId = client.sessionId
    for (let move = 0; move < 2; move++) {
      const owner = cluster.sessionCounts.findIndex((n) => n === 1)
      cluster.proxy.drop()
      await waitFor(
        () => client.state === "connected" && cluster.sessionCounts.findIndex((n) => n === 1) !== owner,
        5000,
        "the take-over",
      )
    }
    expect(client.sessionId).toBe(sessionId)
    const takes = cluster.messages.filter((m) => m.json.startsWith('{"t":"take"'))
    expect(takes.length).toBeGreaterThanOrEqual(2)
    expect(cluster.messages.some((m) => m.json.startsWith('{"t":"taken"'))).toBe(true)
    const token = hellos.at(-1)?.[2]
    expect(typeof token).toBe("string")
    for (const m of cluster.messages) expect(m.json).not.toContain(token as string)
  })
})
