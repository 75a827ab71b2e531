import { describe, expect, it, vi } from "vitest"

// As on a machine where node-datachannel (an optional peer dependency) is not installed.
vi.mock("node-datachannel/polyfill", () => {
  throw new Error("Cannot find package 'node-datachannel' imported from server.ts")
})

describe("webrtcServer() without node-datachannel", () => {
  it("names the package to install, and keeps the loader's error as the cause", async () => {
    const { webrtcServer } = await import("./server.ts")
    let thrown: unknown
    try {
      webrtcServer()
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(Error)
    expect((thrown as Error).message).toMatch(/needs node-datachannel.*npm i node-datachannel/)
    // The loader's error is kept (vitest wraps a failing mock factory's error in one of its own).
    const causes: string[] = []
    for (let e: unknown = (thrown as Error).cause; e instanceof Error; e = e.cause) causes.push(e.message)
    expect(causes.join(" / ")).toMatch(/Cannot find package 'node-datachannel'/)
  })

  it("still runs with an RTCPeerConnection given", async () => {
    const { webrtcServer } = await import("./server.ts")
    class Injected {}
    const transport = webrtcServer({ RTCPeerConnection: Injected as never })
    expect(transport.id).toBe("webrtc")
  })
})
