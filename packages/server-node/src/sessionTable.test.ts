import { control, type ErrorCode, FrameType, type Link, PROTOCOL_VERSION, type TransportId } from "@switchyard/core"
import { describe, expect, it } from "vitest"
import { defaultLimits } from "./limits.ts"
import type { Runtime } from "./runtime.ts"
import type { ServerSession } from "./serverSession.ts"
import { SessionQuota } from "./sessionQuota.ts"
import { RemoteWork } from "./sessionSnapshot.ts"
import { SessionTable } from "./sessionTable.ts"

/** A link that keeps what it is sent. */
class TestLink implements Link {
  readonly sent: unknown[][] = []
  closed: number | undefined
  send(frame: string): void {
    this.sent.push(JSON.parse(frame) as unknown[])
  }
  close(code: number): void {
    this.closed ??= code
  }
  get welcome(): unknown[] | undefined {
    return this.sent.find((f) => f[0] === FrameType.WELCOME)
  }
}

/** A session table over the little of a runtime its sessions use here. */
function tableWith(identify?: (auth: unknown) => string | undefined) {
  const ended: Array<[ServerSession, ErrorCode]> = []
  const limits = { ...defaultLimits, refusalDelayMs: 0 }
  const quota = new SessionQuota(limits)
  const runtime = {
    limits,
    peers: { join() {}, leave() {} },
    signalled: new Map(),
    forget: (session: ServerSession, reason: ErrorCode) => table.forget(session, reason),
    accept: () => {
      throw new Error("not used")
    },
  } as unknown as Runtime
  const table: SessionTable = new SessionTable(runtime, {
    limits,
    offered: [],
    peers: false,
    started() {},
    adopted() {},
    ended: (session, reason) => void ended.push([session, reason]),
    quota,
    identify,
  })
  /** Opens a link from 127.0.0.1 with `auth` and sends its HELLO (`token`: resume that session). */
  const hello = (token: string | null, auth: unknown, signalledBy?: string, transport: TransportId = "websocket") => {
    const link = new TestLink()
    const events = table.accept(link, { transport, remoteAddress: "127.0.0.1", auth }, signalledBy)
    events.frame(control.hello(PROTOCOL_VERSION, token, 0))
    return { link, events }
  }
  return { table, quota, ended, hello }
}

describe("SessionTable.forget", () => {
  it("forgets only the session it is given: an older object under the same token ending leaves the live one", () => {
    const { table, quota, ended, hello } = tableWith()
    const { link } = hello(null, { user: "a" })
    const token = link.welcome?.[2] as string
    const old = table.handOut(token) as ServerSession
    // The hand-over did not arrive: the session is put back, a new object under the same token.
    const snapshot = old.handOver("key", "n1", { frame() {}, latest() {} })
    const live = table.adopt(snapshot, token, new RemoteWork("key", () => {}), old)
    expect(live).not.toBe(old)
    old.end("SESSION_LOST", "an older object of the session ends")
    expect(table.size).toBe(1)
    expect(table.held()).toEqual([live])
    expect(ended).toEqual([])
    expect(quota.heldBy("127.0.0.1")).toBe(1)
    live.end("CLIENT_CLOSED", "the client closed the session")
    expect(table.size).toBe(0)
    expect(ended.map(([session, reason]) => [session === live, reason])).toEqual([[true, "CLIENT_CLOSED"]])
    expect(quota.heldBy("127.0.0.1")).toBe(0)
  })
})

describe("a link a session signalled (WebRTC)", () => {
  it("keeps the session's ctx.auth at its HELLO: a reauthentication since the link opened is not undone", () => {
    const { table, hello } = tableWith()
    const first = hello(null, { user: "a", version: 1 })
    const token = first.link.welcome?.[2] as string
    const session = table.held()[0] as ServerSession
    // The signalled transport takes the link with the auth the session had when the channel opened...
    const link = new TestLink()
    const events = table.accept(link, { transport: "webrtc", remoteAddress: undefined, auth: session.auth }, token)
    // ...then the client reauthenticates on another connection before the channel's HELLO.
    hello(token, { user: "a", version: 2 })
    expect(session.auth).toEqual({ user: "a", version: 2 })
    events.frame(control.hello(PROTOCOL_VERSION, token, 0))
    expect(link.welcome?.[4]).toBe(true)
    expect(session.auth).toEqual({ user: "a", version: 2 })
  })
})
