import { describe, expect, it } from "vitest"
import {
  decodeClientFrame,
  decodeServerFrame,
  decodeServerFrameWith,
  defaultDecodeOptions,
  exceedsDepth,
} from "./codec.ts"
import { body, control, dataFrame, stringifyPayload, unreliableFrame } from "./encode.ts"
import { FrameType, isDataFrame } from "./frames.ts"
import { clientPeerDataError, isServerPeerData, isSignalData } from "./peerData.ts"

describe("decodeClientFrame", () => {
  const accepted: Array<[string, string]> = [
    ["CALL", dataFrame(FrameType.CALL, 1, body.call(7, "add", '{"a":1}'))],
    ["STREAM", dataFrame(FrameType.STREAM, 2, body.stream(8, "ticks", "null", 64))],
    ["CANCEL", dataFrame(FrameType.CANCEL, 3, body.cancel(8))],
    ["CREDIT", dataFrame(FrameType.CREDIT, 4, body.credit(8, 32))],
    ["SUBSCRIBE", dataFrame(FrameType.SUBSCRIBE, 5, body.subscribe(9, "room", "lobby"))],
    ["UNSUBSCRIBE", dataFrame(FrameType.UNSUBSCRIBE, 6, body.unsubscribe("room", ""))],
    ["PUBLISH", dataFrame(FrameType.PUBLISH, 7, body.publish(10, "room", "lobby", '"hi"'))],
    ["HELLO new", control.hello(1, null, 0)],
    ["HELLO resume", control.hello(1, "tok", 12)],
    ["ACK", control.ack(0)],
    ["PONG", control.pong(5)],
    ["NOTICE", control.notice("INVALID_FRAME", "x")],
    ["BYE", control.bye("CLIENT_CLOSED", "bye")],
  ]
  it.each(accepted)("accepts a well-formed %s", (_name, text) => {
    const result = decodeClientFrame(text)
    expect(result.ok).toBe(true)
    if (result.ok) expect(result.frame).toEqual(JSON.parse(text))
  })

  const refused: Array<[string, unknown, string]> = [
    ["binary", new Uint8Array([1, 2]), "INVALID_FRAME"],
    ["invalid JSON", "[1,", "INVALID_FRAME"],
    ["an object", '{"t":1}', "INVALID_FRAME"],
    ["an empty array", "[]", "INVALID_FRAME"],
    ["an unknown type", "[99,1]", "INVALID_FRAME"],
    ["a server-only frame", '[2,1,1,"x"]', "INVALID_FRAME"],
    ["a zero sequence number", '[1,0,1,"add",{}]', "INVALID_FRAME"],
    ["a fractional id", '[1,1,1.5,"add",{}]', "INVALID_FRAME"],
    ["an unsafe integer", `[1,${2 ** 60},1,"add",{}]`, "INVALID_FRAME"],
    ["an empty name", '[1,1,1,"",{}]', "INVALID_FRAME"],
    ["a long name", `[1,1,1,"${"n".repeat(129)}",{}]`, "INVALID_FRAME"],
    ["a long key", `[9,1,1,"room","${"k".repeat(257)}"]`, "INVALID_FRAME"],
    ["too much credit", `[8,1,1,${2 ** 21}]`, "INVALID_FRAME"],
    ["zero credit", '[4,1,1,"s",{},0]', "INVALID_FRAME"],
    ["a missing field", '[1,1,1,"add"]', "INVALID_FRAME"],
    ["an extra field", '[1,1,1,"add",{},5]', "INVALID_FRAME"],
    ["a HELLO with a numeric token", "[20,1,5,0]", "INVALID_FRAME"],
    ["deep nesting", `[1,1,1,"add",${"[".repeat(100)}${"]".repeat(100)}]`, "FRAME_TOO_DEEP"],
  ]
  it.each(refused)("refuses %s without throwing", (_name, input, code) => {
    const result = decodeClientFrame(input)
    expect(result).toMatchObject({ ok: false, code })
  })
})

describe("decodeServerFrame", () => {
  it("accepts every server frame and refuses client-only ones", () => {
    const limits = { maxMessageBytes: 1, heartbeatIntervalMs: 2, heartbeatTimeoutMs: 3, resumeWindowMs: 4, maxDepth: 5 }
    for (const text of [
      dataFrame(FrameType.RESULT, 1, body.result(1, "3")),
      dataFrame(FrameType.ERROR, 2, body.error(1, "FAILURE", "m", '{"_tag":"X"}')),
      dataFrame(FrameType.ERROR, 3, body.error(1, "INTERNAL_ERROR", "m")),
      dataFrame(FrameType.ITEM, 4, body.item(1, "[1]")),
      dataFrame(FrameType.END, 5, body.end(1)),
      dataFrame(FrameType.MESSAGE, 6, body.message("room", "k", "{}")),
      control.welcome(1, "tok", "id", false, 0, limits),
      control.ping(3),
    ]) {
      expect(decodeServerFrame(text).ok, text).toBe(true)
    }
    expect(decodeServerFrame(dataFrame(FrameType.CALL, 1, body.call(1, "a", "1"))).ok).toBe(false)
    expect(decodeServerFrame('[21,1,"t","i",false,0,{"maxMessageBytes":"big"}]').ok).toBe(false)
  })
})

describe("SIGNAL frames (13) from a server", () => {
  const offer = JSON.stringify({ type: "offer", sdp: "v=0" })
  const signal = (kind: string, data: string, tail = "") => `[13,1,2,${JSON.stringify(kind)},${data}${tail}]`
  const anyData = () => true
  const withRules = (text: string) => decodeServerFrameWith(text, defaultDecodeOptions, isServerPeerData, isSignalData)
  const withoutRules = (text: string) => decodeServerFrameWith(text, defaultDecodeOptions, isServerPeerData, anyData)

  it("checks the data by the rules given: a signalled transport's (isSignalData), as decodeServerFrame does", () => {
    for (const decode of [decodeServerFrame, withRules]) {
      expect(decode(signal("offer", offer)).ok).toBe(true)
      expect(decode(signal("candidate", "null", ',"webrtc"')).ok).toBe(true)
      expect(decode(signal("offer", JSON.stringify({ type: "answer", sdp: "v=0" }))).ok).toBe(false)
      expect(decode(signal("candidate", JSON.stringify({ candidate: "c".repeat(1025) }))).ok).toBe(false)
      expect(decode(signal("launch", "null")).ok).toBe(false)
    }
  })

  it("without a signalled transport's rules takes any kind and data, and still checks the rest of the frame", () => {
    expect(withoutRules(signal("launch", '{"anything":[1,2]}')).ok).toBe(true)
    expect(withoutRules(signal("candidate", JSON.stringify({ candidate: "c".repeat(1025) }))).ok).toBe(true)
    expect(withoutRules(`[13,1,0,"offer",${offer}]`).ok).toBe(false)
    expect(withoutRules(`[13,1,2,"offer"]`).ok).toBe(false)
    expect(withoutRules(signal("offer", offer, ',"no such transport!"')).ok).toBe(false)
    expect(withoutRules(signal("offer", offer, ',"webrtc",1')).ok).toBe(false)
  })
})

describe("exceedsDepth", () => {
  it("counts brackets outside strings only", () => {
    expect(exceedsDepth("[[[1]]]", 3)).toBe(false)
    expect(exceedsDepth("[[[[1]]]]", 3)).toBe(true)
    expect(exceedsDepth(`["${"[".repeat(50)}"]`, 3)).toBe(false)
    expect(exceedsDepth(`["\\"${"[".repeat(50)}"]`, 3)).toBe(false)
    expect(exceedsDepth('[{"a":[{"b":1}]}]', 4)).toBe(false)
    expect(exceedsDepth('[{"a":[{"b":[]}]}]', 4)).toBe(true)
  })
})

describe("stringifyPayload", () => {
  it("sends undefined as null and refuses what JSON cannot carry", () => {
    expect(stringifyPayload(undefined)).toBe("null")
    expect(stringifyPayload({ a: [1, "x"] })).toBe('{"a":[1,"x"]}')
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(stringifyPayload(cycle)).toBeUndefined()
    expect(stringifyPayload(10n)).toBeUndefined()
  })
})

describe("UNRELIABLE frames (28)", () => {
  it("round-trips a stream item and a topic message, written with the bodies of ITEM and MESSAGE", () => {
    const item = unreliableFrame(7, body.item(3, '{"x":1}'))
    const message = unreliableFrame(9, body.message("cursor", "k", '{"x":2}'))
    expect(item).toBe('[28,7,3,{"x":1}]')
    expect(message).toBe('[28,9,"cursor","k",{"x":2}]')
    expect(decodeServerFrame(item)).toEqual({ ok: true, frame: [FrameType.UNRELIABLE, 7, 3, { x: 1 }] })
    expect(decodeServerFrame(message)).toEqual({ ok: true, frame: [28, 9, "cursor", "k", { x: 2 }] })
    // The empty key is a key, as for MESSAGE.
    expect(decodeServerFrame(unreliableFrame(1, body.message("t", "", "null"))).ok).toBe(true)
  })

  const hostile: Array<[string, string]> = [
    ["no n", "[28]"],
    ["n zero", '[28,0,3,"x"]'],
    ["n fractional", '[28,1.5,3,"x"]'],
    ["n a string", '[28,"1",3,"x"]'],
    ["n unsafe", `[28,${2 ** 60},3,"x"]`],
    ["a stream id of 0", '[28,1,0,"x"]'],
    ["a stream id that is a string", '[28,1,"3","x"]'],
    ["a topic name that is a number", '[28,1,5,"k",1]'],
    ["an empty topic name", '[28,1,"","k",1]'],
    ["a long topic name", `[28,1,"${"t".repeat(129)}","k",1]`],
    ["a long key", `[28,1,"t","${"k".repeat(257)}",1]`],
    ["a key that is null", '[28,1,"t",null,1]'],
    ["too short", "[28,1,3]"],
    ["too long", '[28,1,"t","k",1,2]'],
  ]
  it.each(hostile)("a client refuses one with %s, without throwing", (_name, text) => {
    expect(decodeServerFrame(text)).toMatchObject({ ok: false, code: "INVALID_FRAME" })
  })

  it("is never accepted from a client, whatever it holds", () => {
    for (const text of ['[28,1,3,"x"]', '[28,1,"room","k",{}]', "[28]"]) {
      expect(decodeClientFrame(text)).toEqual({
        ok: false,
        code: "INVALID_FRAME",
        message: "UNRELIABLE frames travel from server to client only; publish with PUBLISH",
      })
    }
  })

  it("is a control frame: not sequenced, so never acknowledged nor replayed", () => {
    expect(isDataFrame(FrameType.UNRELIABLE)).toBe(false)
  })
})

describe("PEER frames (14)", () => {
  const peer = (seq: number, conn: number, op: string, data: string) =>
    dataFrame(FrameType.PEER, seq, body.peer(conn, op, data))

  it("takes a client PEER frame by its head alone, so that the server can answer a bad `data` for its id", () => {
    expect(decodeClientFrame(peer(1, 3, "offer", '{"type":"offer","sdp":"v=0"}')).ok).toBe(true)
    expect(decodeClientFrame(peer(2, 3, "anything", "[1,2,3]")).ok).toBe(true)
    expect(decodeClientFrame('[14,1,0,"offer",null]').ok).toBe(false)
    expect(decodeClientFrame("[14,1,3,7,null]").ok).toBe(false)
    expect(decodeClientFrame(`[14,1,3,${JSON.stringify("x".repeat(17))},null]`).ok).toBe(false)
    expect(decodeClientFrame('[14,1,3,"close"]').ok).toBe(false)
  })

  it("says which rule a client's `data` breaks, without echoing it", () => {
    expect(clientPeerDataError("connect", "abc")).toBeUndefined()
    expect(clientPeerDataError("connect", "x".repeat(65))).toMatch(/peer id/)
    expect(clientPeerDataError("accept", null)).toBeUndefined()
    expect(clientPeerDataError("relay", [1, "cursor", { x: 1 }])).toBeUndefined()
    expect(clientPeerDataError("relay", [0, "cursor", 1])).toMatch(/\[n, channel, message\]/)
    expect(clientPeerDataError("latest", [3, "position", { x: 1, y: 2 }])).toBeUndefined()
    expect(clientPeerDataError("latest", [0, "position", 1])).toMatch(
      /an unreliable message is \[n, channel, message\]/,
    )
    expect(clientPeerDataError("offer", { type: "offer", sdp: "x".repeat(16 * 1024 + 1) })).toMatch(/SDP is longer/)
    expect(clientPeerDataError("offer", { type: "answer", sdp: "v=0" })).toMatch(/offer carries/)
    expect(clientPeerDataError("candidate", null)).toBeUndefined()
    expect(clientPeerDataError("candidate", { candidate: "c".repeat(1025) })).toMatch(/candidate is longer/)
    expect(clientPeerDataError("close", "y".repeat(257))).toMatch(/reason/)
    expect(clientPeerDataError("launch", null)).toMatch(/unknown peer operation/)
  })

  it("checks a server PEER frame's `data` against its op", () => {
    const setup = '{"peer":"abc","iceServers":[],"direct":true}'
    expect(decodeServerFrame(peer(1, 2, "incoming", setup)).ok).toBe(true)
    expect(decodeServerFrame(peer(1, 2, "relay", '[4,"cursor",{"x":1}]')).ok).toBe(true)
    expect(decodeServerFrame(peer(1, 2, "skip", "4")).ok).toBe(true)
    expect(decodeServerFrame(peer(1, 2, "latest", '[9,"position",{"x":1,"y":2}]')).ok).toBe(true)
    expect(decodeServerFrame(peer(1, 2, "latest", '[9,"position"]')).ok).toBe(false)
    expect(decodeServerFrame(peer(1, 2, "error", '{"code":"INVALID_INPUT","message":"m","n":4}')).ok).toBe(true)
    expect(decodeServerFrame(peer(1, 2, "incoming", '{"peer":"abc"}')).ok).toBe(false)
    expect(decodeServerFrame(peer(1, 2, "connect", '"abc"')).ok).toBe(false)
    expect(decodeServerFrame(peer(1, 2, "skip", "0")).ok).toBe(false)
  })

  it("carries the peer id as WELCOME's last element, after the offer", () => {
    const limits = {
      maxMessageBytes: 1,
      heartbeatIntervalMs: 1,
      heartbeatTimeoutMs: 1,
      resumeWindowMs: 1,
      maxDepth: 64,
    }
    const text = control.welcome(1, "tok", "sid", false, 0, limits, [], "peer-id")
    const decoded = decodeServerFrame(text)
    expect(decoded.ok && decoded.frame[8]).toBe("peer-id")
    expect(JSON.parse(control.welcome(1, "tok", "sid", false, 0, limits, undefined, "peer-id"))).toHaveLength(7)
  })
})
