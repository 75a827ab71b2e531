import { randomBytes } from "node:crypto"
import { request as httpRequest } from "node:http"
import { control, FrameType } from "@switchyard/core"
import { TestContract, type TestServerState, testHandlers, waitFor } from "@switchyard/core/testing"
import { createServer } from "@switchyard/server-node"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { longPollingBystander, startTestServer } from "./support/harnesses.ts"
import { servedCounting } from "./support/takenRequests.ts"

const text = { "content-type": "text/plain;charset=UTF-8" }

describe("hostile input over the HTTP transports", () => {
  let server: ReturnType<typeof startTestServer>
  let url: string
  const cleanup: Array<() => Promise<void>> = []

  beforeEach(async () => {
    const state: TestServerState = { aborted: new Set() }
    server = startTestServer({}, state)
    url = (await server.listen(0, "127.0.0.1")).url
  })
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn()
    await server.close()
  })

  /**
   * Opens a long-polling link by hand: the HELLO in the opening POST, WELCOME from the first poll; `at`, the
   * server's URL, or another way to it.
   */
  const openLink = async (hello = control.hello(1, null, 0), at = url) => {
    const opened = await fetch(`${at}?transport=long-polling`, { method: "POST", body: hello, headers: text })
    expect(opened.status).toBe(200)
    const { link } = (await opened.json()) as { link: string }
    const poll = async () => {
      const response = await fetch(`${at}?transport=long-polling&link=${link}`)
      return {
        status: response.status,
        frames: (await response.text())
          .split("\n")
          .filter(Boolean)
          .map((f) => JSON.parse(f) as unknown[]),
      }
    }
    const first = await poll()
    const welcome = first.frames.find((f) => f[0] === FrameType.WELCOME) as unknown[]
    expect(welcome).toBeDefined()
    return {
      link,
      poll,
      welcome,
      post: (body: string) => fetch(`${at}?link=${link}`, { method: "POST", body, headers: text }),
    }
  }

  /** A well-behaved client beside the attacker, which must not notice anything. */
  const bystander = () => longPollingBystander(url, cleanup)

  it("answers guessed, closed and mismatched link ids with 410, learning nothing", async () => {
    const stillFine = await bystander()
    const guessed = randomBytes(16).toString("base64url")
    expect((await fetch(`${url}?transport=long-polling&link=${guessed}`)).status).toBe(410)
    expect((await fetch(`${url}?link=${guessed}`, { method: "POST", body: "[24,0]", headers: text })).status).toBe(410)
    expect((await fetch(`${url}?link=${guessed}`, { method: "DELETE" })).status).toBe(410)
    const { link } = await openLink()
    // The right id on the wrong transport is no link either.
    expect((await fetch(`${url}?transport=polling&link=${link}`)).status).toBe(410)
    expect((await fetch(`${url}?link=${link}`, { method: "DELETE" })).status).toBe(204)
    // A replayed id, after its link closed.
    expect((await fetch(`${url}?transport=long-polling&link=${link}`)).status).toBe(410)
    expect((await fetch(`${url}?link=${link}`, { method: "POST", body: "[24,0]", headers: text })).status).toBe(410)
    await stillFine()
  })

  it("gives a guessed session token a new session, never someone else's", async () => {
    const victim = await openLink()
    const forger = await openLink(control.hello(1, randomBytes(18).toString("base64url"), 0))
    expect(forger.welcome[4]).toBe(false)
    expect(forger.welcome[2]).not.toBe(victim.welcome[2])
    expect(forger.welcome[3]).not.toBe(victim.welcome[3])
  })

  it("refuses bodies over the limit with 413, declared or streamed, and the link goes on", async () => {
    const stillFine = await bystander()
    const { post, poll } = await openLink()
    const big = "x".repeat(1024 * 1024 + 65 * 1024)
    expect((await post(big)).status).toBe(413)
    // Streamed without a Content-Length: cut as soon as it passes the bound.
    const status = await new Promise<number>((resolve) => {
      const target = new URL(`${url}?transport=long-polling`)
      const req = httpRequest(
        { host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: "POST" },
        (res) => resolve(res.statusCode ?? 0),
      )
      req.on("error", () => resolve(-1))
      for (let i = 0; i < 20; i++) req.write("y".repeat(64 * 1024))
      req.end()
    })
    expect(status).toBe(413)
    // The link still works: a good frame after the refusals.
    expect((await post(JSON.stringify([FrameType.CALL, 1, 1, "add", { a: 1, b: 2 }]))).status).toBe(204)
    const reply = await poll()
    expect(reply.frames).toContainEqual([FrameType.RESULT, 1, 1, 3])
    await stillFine()
  })

  it("answers a malformed batch with NOTICEs, frame by frame, keeping the good ones", async () => {
    const stillFine = await bystander()
    const { post, poll } = await openLink()
    const batch = [
      "{not json",
      "[999,1]",
      JSON.stringify([FrameType.CALL, 1, 7, "add", { a: 2, b: 3 }]),
      "\u0000\u0001",
      "[]",
    ].join("\n")
    expect((await post(batch)).status).toBe(204)
    const frames: unknown[][] = []
    const deadline = Date.now() + 5000
    while (
      frames.filter((f) => f[0] === FrameType.NOTICE).length < 4 ||
      !frames.some((f) => f[0] === FrameType.RESULT)
    ) {
      if (Date.now() > deadline) throw new Error(`incomplete answer: ${JSON.stringify(frames)}`)
      frames.push(...(await poll()).frames)
    }
    expect(frames.filter((f) => f[0] === FrameType.NOTICE).map((f) => f[1])).toEqual([
      "INVALID_FRAME",
      "INVALID_FRAME",
      "INVALID_FRAME",
      "INVALID_FRAME",
    ])
    expect(frames).toContainEqual([FrameType.RESULT, 1, 7, 5])
    await stillFine()
  })

  it("answers an overlapping poll by replacing the held one with 204; the session goes on", async () => {
    await using served = await servedCounting(server)
    const { poll, post } = await openLink(undefined, served.url)
    const before = served.taken()
    const held = poll()
    await waitFor(() => served.taken() > before, 5000, "the first poll to be held")
    const second = poll()
    expect((await held).status).toBe(204)
    expect((await post(JSON.stringify([FrameType.CALL, 1, 1, "add", { a: 1, b: 1 }]))).status).toBe(204)
    const answered = await second
    expect(answered.status).toBe(200)
    expect(answered.frames).toContainEqual([FrameType.RESULT, 1, 1, 2])
  })

  it("refuses a foreign Origin with 403 on every method, and answers CORS only for allowed origins", async () => {
    const evil = { origin: "https://evil.example" }
    expect(
      (
        await fetch(`${url}?transport=long-polling`, {
          method: "POST",
          body: control.hello(1, null, 0),
          headers: { ...text, ...evil },
        })
      ).status,
    ).toBe(403)
    expect((await fetch(`${url}?transport=long-polling&link=x`, { headers: evil })).status).toBe(403)
    expect((await fetch(`${url}?link=x`, { method: "OPTIONS", headers: evil })).status).toBe(403)
    const cross = createServer(TestContract, testHandlers({ aborted: new Set() }) as never, {
      allowedOrigins: ["https://app.example"],
      onError: () => {},
    })
    const { url: crossUrl } = await cross.listen(0, "127.0.0.1")
    cleanup.push(() => cross.close())
    const preflight = await fetch(`${crossUrl}?transport=long-polling`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example" },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example")
    expect(preflight.headers.get("access-control-allow-credentials")).toBe("true")
    expect(preflight.headers.get("vary")).toBe("Origin")
    expect((await fetch(`${crossUrl}?transport=long-polling`, { method: "OPTIONS", headers: evil })).status).toBe(403)
  })

  it("answers a malformed ack on a poll with 400, and ends a session whose poll acknowledges frames never sent", async () => {
    const stillFine = await bystander()
    const { link, poll } = await openLink()
    for (const bad of ["-1", "1.5", "1e3", "abc", "9".repeat(16), ""]) {
      const response = await fetch(`${url}?transport=long-polling&link=${link}&ack=${encodeURIComponent(bad)}`)
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ code: "INVALID_FRAME" })
    }
    // The link survived those; acknowledging what the server never sent is a protocol violation.
    const forged = await fetch(`${url}?transport=long-polling&link=${link}&ack=999`)
    const frames = (await forged.text()).split("\n").filter(Boolean)
    expect(frames.some((f) => f.includes("SEQUENCE_GAP"))).toBe(true)
    expect((await poll()).status).toBe(410)
    await stillFine()
  })
})
