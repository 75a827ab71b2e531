import { describe, expect, it } from "vitest"
import { decodeClientFrame, decodeServerFrame } from "./codec.ts"
import { body, dataFrame, presenceBody } from "./encode.ts"
import { FrameType, isDataFrame, isPresenceList } from "./frames.ts"

/** The presence frames of the codec (docs/protocol.md#presence): PRESENCE (15) and PRESENCE_EVENT (16). */
describe("presence frames", () => {
  it("round-trips a PRESENCE request, list only or watching", () => {
    for (const watch of [false, true]) {
      const text = dataFrame(FrameType.PRESENCE, 3, presenceBody(7, "room", "lobby", watch))
      expect(decodeClientFrame(text)).toEqual({ ok: true, frame: [15, 3, 7, "room", "lobby", watch] })
    }
    expect(body.presence).toBe(presenceBody)
  })

  it("round-trips a PRESENCE_EVENT with the member's data as JSON text", () => {
    const text = dataFrame(FrameType.PRESENCE_EVENT, 9, body.presenceEvent("room", "k", "join", "s1", '{"name":"ann"}'))
    expect(decodeServerFrame(text)).toEqual({
      ok: true,
      frame: [16, 9, "room", "k", "join", "s1", { name: "ann" }],
    })
  })

  it("numbers and replays both as data frames", () => {
    expect(isDataFrame(FrameType.PRESENCE)).toBe(true)
    expect(isDataFrame(FrameType.PRESENCE_EVENT)).toBe(true)
  })

  it.each([
    ["watch not a boolean", '[15,1,2,"room","k",1]'],
    ["no watch", '[15,1,2,"room","k"]'],
    ["empty topic", '[15,1,2,"","k",false]'],
    ["key too long", `[15,1,2,"room","${"k".repeat(257)}",false]`],
    ["sent by a server", '[16,1,"room","k","join","s1",null]'],
  ])("refuses a client frame with %s", (_why, text) => {
    expect(decodeClientFrame(text)).toMatchObject({ ok: false, code: "INVALID_FRAME" })
  })

  it.each([
    ["an unknown event", '[16,1,"room","k","update","s1",null]'],
    ["an empty member id", '[16,1,"room","k","join","",null]'],
    ["no data", '[16,1,"room","k","leave","s1"]'],
    ["a sequence number of 0", '[16,0,"room","k","join","s1",null]'],
    ["sent by a client", '[15,1,2,"room","k",false]'],
  ])("refuses a server frame with %s", (_why, text) => {
    expect(decodeServerFrame(text)).toMatchObject({ ok: false, code: "INVALID_FRAME" })
  })

  it("tells a presence list from anything else", () => {
    expect(isPresenceList([])).toBe(true)
    expect(
      isPresenceList([
        ["s1", { name: "ann" }],
        ["s2", null],
      ]),
    ).toBe(true)
    expect(isPresenceList([["s1"]])).toBe(false)
    expect(isPresenceList([[1, null]])).toBe(false)
    expect(isPresenceList({ s1: null })).toBe(false)
  })
})
