import { control, FrameType } from "@switchyard/core"
import { TestContract, type TestServerState, testHandlers } from "@switchyard/core/testing"
import { createServer, type Handlers } from "@switchyard/server-node"
import { describe, expect, it } from "vitest"

// Issue 11: the presence case of the Chromium cluster contract file (long polling) timed out at 30 s. A
// dropped connection made Chromium send a poll again (browsers retry an idempotent request whose reused
// connection was reset), and the server handed the session's RESULT to a poll whose response never
// reached the page. The next poll carried the same `ack`, saying the client never got it, and the link
// had nothing more to send: the answer stayed in the session's replay buffer until a reconnection that
// never came. A poll's `ack` now makes the link send again what it handed to earlier polls past it.
describe("long polling: a poll whose response was lost", () => {
  it("is answered again by the next poll, which carries the same ack", async () => {
    const state: TestServerState = { aborted: new Set() }
    const server = createServer(TestContract, testHandlers(state) as unknown as Handlers<TestContract>, {
      // A poll with nothing to send is held this long: far longer than an answer sent at once can take.
      limits: { pollTimeoutMs: 20_000 },
    })
    const { url } = await server.listen(0, "127.0.0.1")
    try {
      const text = { "content-type": "text/plain" }
      const opened = await fetch(`${url}?transport=long-polling`, {
        method: "POST",
        body: control.hello(1, null, 0),
        headers: text,
      })
      const { link } = (await opened.json()) as { link: string }
      const poll = (ack: number) => fetch(`${url}?transport=long-polling&link=${link}&ack=${ack}`).then((r) => r.text())
      expect(await poll(0)).toContain(`[${FrameType.WELCOME},`)
      const call = await fetch(`${url}?link=${link}`, {
        method: "POST",
        body: JSON.stringify([FrameType.CALL, 1, 1, "add", { a: 2, b: 3 }]),
        headers: text,
      })
      expect(call.status).toBe(204)
      const result = `[${FrameType.RESULT},1,1,5]`
      // The poll whose response carries it is lost on the way: the client never reads it.
      let lost = ""
      for (let i = 0; i < 5 && !lost.includes(result); i++) lost = await poll(0)
      expect(lost).toContain(result)
      // The client polls again, acknowledging nothing new: the RESULT comes again, at once.
      const started = Date.now()
      const again = await poll(0)
      expect(again).toContain(result)
      expect(Date.now() - started).toBeLessThan(5000)
      // Once acknowledged, it is not sent a third time: the polls that follow bring the next answer, and
      // not that one (nor anything else but the server's ACKs).
      const after = poll(1)
      const next = await fetch(`${url}?link=${link}`, {
        method: "POST",
        body: JSON.stringify([FrameType.CALL, 2, 2, "add", { a: 1, b: 1 }]),
        headers: text,
      })
      expect(next.status).toBe(204)
      const nextResult = `[${FrameType.RESULT},2,2,2]`
      const frames = (await after).split("\n").filter(Boolean)
      for (let i = 0; i < 5 && !frames.includes(nextResult); i++)
        frames.push(...(await poll(1)).split("\n").filter(Boolean))
      expect(frames.filter((frame) => !frame.startsWith(`[${FrameType.ACK},`))).toEqual([nextResult])
    } finally {
      await server.close()
    }
  })
})
