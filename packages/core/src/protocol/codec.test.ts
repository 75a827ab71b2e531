import { describe, expect, it } from "vitest"
import {
  body,
  control,
  dataFrame,
  decodeClientFrame,
  decodeServerFrame,
  exceedsDepth,
  stringifyPayload,
  unreliableFrame,
} from "./codec.ts"
import { FrameType, isDataFrame } from "./frames.ts"

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
