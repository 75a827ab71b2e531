import {
  type CompiledContract,
  compileContract,
  type PeerConnection,
  prepareContract,
  type SwitchyardError,
} from "@switchyard/core"
import { TestContract } from "@switchyard/core/testing"
import { beforeAll, describe, expect, it } from "vitest"
import { defaultPeerSettings } from "./options.ts"
import { PeerConn } from "./peerConnection.ts"

let compiled: CompiledContract
beforeAll(async () => {
  await prepareContract(TestContract)
  compiled = compileContract(TestContract)
})

/** A connection on the relay (no RTCPeerConnection), recording what it hands the session. */
function relayed() {
  const sent: string[] = []
  const session = { connected: true }
  const owner = {
    compiled,
    settings: { ...defaultPeerSettings, RTCPeerConnection: undefined },
    host: {
      compiled,
      get connected() {
        return session.connected
      },
      send: (frameBody: string): SwitchyardError | undefined => {
        sent.push(frameBody)
        return undefined
      },
    },
    forget: () => {},
  }
  const conn = new PeerConn(owner, 3, "other", true, { peer: "other", iceServers: [], direct: true })
  const api = conn.api as unknown as PeerConnection<TestContract["peers"]>
  const errors: string[] = []
  api.on("error", (error) => errors.push(`${error.code}: ${error.message}`))
  return { conn, api, sent, errors, session }
}

describe("PeerConn: unreliable peer channels", () => {
  it("sends them as `latest` frames, numbered apart from the reliable messages", () => {
    const { api, sent } = relayed()
    api.channels.position.send({ x: 1, y: 2 })
    api.channels.note.send("hi")
    api.channels.position.send({ x: 3, y: 4 })
    expect(sent).toEqual([
      '3,"latest",[1,"position",{"x":1,"y":2}]',
      '3,"relay",[1,"note","hi"]',
      '3,"latest",[2,"position",{"x":3,"y":4}]',
    ])
    // Validated against the contract before they leave, like any message.
    expect(() => api.channels.position.send({ x: "left" } as never)).toThrow(/position/)
  })

  it("drops them while the session has no connection, rather than queueing them for the next; reliable ones queue", () => {
    const { api, sent, session } = relayed()
    session.connected = false
    api.channels.position.send({ x: 1, y: 1 })
    api.channels.note.send("while away")
    session.connected = true
    api.channels.position.send({ x: 2, y: 2 })
    expect(sent).toEqual(['3,"relay",[1,"note","while away"]', '3,"latest",[2,"position",{"x":2,"y":2}]'])
  })

  it("delivers one only when it is newer than the last of its channel", () => {
    const { conn, api, errors } = relayed()
    const got: unknown[] = []
    api.channels.position.subscribe((m) => got.push(m))
    conn.handle("latest", [5, "position", { x: 5, y: 5 }])
    conn.handle("latest", [3, "position", { x: 3, y: 3 }])
    conn.handle("latest", [5, "position", { x: 5, y: 5 }])
    conn.handle("latest", [9, "position", { x: 9, y: 9 }])
    expect(got).toEqual([
      { x: 5, y: 5 },
      { x: 9, y: 9 },
    ])
    expect(errors).toEqual([])
  })

  it("leaves the reliable channels' order alone, and refuses a reliable channel's message sent as unreliable", () => {
    const { conn, api, errors } = relayed()
    const notes: string[] = []
    api.channels.note.subscribe((m) => notes.push(m))
    conn.handle("relay", [2, "note", "second"])
    conn.handle("latest", [1, "note", "sneaked"])
    conn.handle("relay", [1, "note", "first"])
    expect(notes).toEqual(["first", "second"])
    expect(errors).toEqual(["INVALID_FRAME: peer channel note is not unreliable"])
  })

  it("reports an invalid unreliable message as an error and delivers the next", () => {
    const { conn, api, errors } = relayed()
    const got: unknown[] = []
    api.channels.position.subscribe((m) => got.push(m))
    conn.handle("latest", [1, "position", { x: "left" }])
    conn.handle("latest", [2, "position", { x: 2, y: 2 }])
    expect(got).toEqual([{ x: 2, y: 2 }])
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/^INVALID_OUTPUT: peer channel position/)
  })

  it("keeps only the newest for a channel's first subscriber, while a reliable channel keeps each", () => {
    const { conn, api, errors } = relayed()
    conn.handle("latest", [1, "position", { x: 1, y: 1 }])
    conn.handle("latest", [2, "position", { x: 2, y: 2 }])
    conn.handle("relay", [1, "note", "one"])
    conn.handle("relay", [2, "note", "two"])
    const positions: unknown[] = []
    const notes: string[] = []
    api.channels.position.subscribe((m) => positions.push(m))
    api.channels.note.subscribe((m) => notes.push(m))
    expect(positions).toEqual([{ x: 2, y: 2 }])
    expect(notes).toEqual(["one", "two"])
    expect(errors).toEqual([])
  })
})
