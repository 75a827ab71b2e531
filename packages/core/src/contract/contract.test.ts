import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { compileContract } from "./compile.ts"
import { contract, peer, rpc, stream, topic } from "./contract.ts"
import { effectCodec } from "./effectCodec.ts"
import { registerEffectCodec } from "./payloadCodec.ts"

registerEffectCodec(effectCodec)

describe("delivery", () => {
  it("defaults to reliable and keeps an explicit choice", () => {
    const c = contract({
      streams: {
        ticks: stream({ input: Schema.Null, item: Schema.Number }),
        position: stream({ input: Schema.Null, item: Schema.Number, delivery: "unreliable" }),
      },
      topics: {
        room: topic({ message: Schema.String }),
        log: topic({ message: Schema.String, delivery: "reliable" }),
        cursor: topic({ message: Schema.Number, delivery: "unreliable" }),
      },
    })
    expect(c.streams.ticks.delivery).toBe("reliable")
    expect(c.streams.position.delivery).toBe("unreliable")
    expect(c.topics.room.delivery).toBe("reliable")
    expect(c.topics.log.delivery).toBe("reliable")
    expect(c.topics.cursor.delivery).toBe("unreliable")
    const compiled = compileContract(c)
    expect(compiled.streams.get("position")?.delivery).toBe("unreliable")
    expect(compiled.topics.get("cursor")?.delivery).toBe("unreliable")
    expect(compiled.topics.get("room")?.delivery).toBe("reliable")
  })

  it("refuses any other value with a TypeError, from the builders and from contract()", () => {
    expect(() => topic({ message: Schema.String, delivery: "lossy" as never })).toThrow(
      new TypeError('switchyard: delivery must be "reliable" or "unreliable", not "lossy"'),
    )
    expect(() => stream({ input: Schema.Null, item: Schema.Number, delivery: 1 as never })).toThrow(
      /delivery must be "reliable" or "unreliable", not number/,
    )
    // A definition written by hand, not by topic(): contract() checks it too.
    const handMade = { kind: "topic", message: Schema.String, delivery: "fast" }
    expect(() => contract({ topics: { cursor: handMade as never } })).toThrow(
      new TypeError('switchyard: topic "cursor": delivery must be "reliable" or "unreliable", not "fast"'),
    )
    // One without `delivery` at all is reliable.
    const plain = contract({ topics: { room: { kind: "topic", message: Schema.String } as never } })
    expect(compileContract(plain).topics.get("room")?.delivery).toBe("reliable")
    expect(() => contract({ rpc: { add: rpc({ input: Schema.Number, output: Schema.Number }) } })).not.toThrow()
  })

  it("lets a peer channel be unreliable, with the same spelling and checks", () => {
    const c = contract({
      peers: {
        note: peer({ message: Schema.String }),
        pointer: peer({ message: Schema.Number, delivery: "unreliable" }),
      },
    })
    expect([c.peers.note.delivery, c.peers.pointer.delivery]).toEqual(["reliable", "unreliable"])
    const compiled = compileContract(c)
    expect(compiled.peers.get("pointer")?.delivery).toBe("unreliable")
    expect(compiled.peers.get("note")?.delivery).toBe("reliable")
    expect(() => peer({ message: Schema.String, delivery: "lossy" as never })).toThrow(
      new TypeError('switchyard: delivery must be "reliable" or "unreliable", not "lossy"'),
    )
    const handMade = { kind: "peer", message: Schema.String, delivery: "fast" }
    expect(() => contract({ peers: { pointer: handMade as never } })).toThrow(
      new TypeError('switchyard: peer "pointer": delivery must be "reliable" or "unreliable", not "fast"'),
    )
    // A definition made before peer delivery existed (no field) is reliable.
    const old = contract({ peers: { note: { kind: "peer", message: Schema.String } as never } })
    expect(compileContract(old).peers.get("note")?.delivery).toBe("reliable")
  })
})

describe("presence", () => {
  it("keeps a topic's presence schema and compiles its codec, which validates", () => {
    const Member = Schema.Struct({ name: Schema.String, since: Schema.Date })
    const c = contract({
      topics: { room: topic({ message: Schema.String, presence: Member }), feed: topic({ message: Schema.Number }) },
    })
    expect(c.topics.room.presence).toBe(Member)
    expect(c.topics.feed.presence).toBeUndefined()
    const compiled = compileContract(c)
    expect(compiled.topics.get("feed")?.presence).toBeUndefined()
    const codec = compiled.topics.get("room")?.presence
    expect(codec?.encode({ name: "ann", since: new Date(0) })).toEqual({
      ok: true,
      value: { name: "ann", since: "1970-01-01T00:00:00.000Z" },
    })
    expect(codec?.decode({ name: 1, since: "x" }).ok).toBe(false)
  })
})
