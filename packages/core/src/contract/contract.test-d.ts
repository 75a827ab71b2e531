import * as Schema from "effect/Schema"
import { describe, expectTypeOf, it } from "vitest"
import type { TransportId } from "../transport/types.ts"
import { contract, type Delivery, type ErrorOf, peer, rpc, stream, topic } from "./contract.ts"
import type { Client } from "./typedClient.ts"

const Chat = contract({
  rpc: {
    add: rpc({ input: Schema.Struct({ a: Schema.Number, b: Schema.Number }), output: Schema.Number }),
    divide: rpc({
      input: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
      output: Schema.Number,
      error: Schema.Struct({ _tag: Schema.Literal("DivisionByZero") }),
    }),
  },
  streams: { countdown: stream({ input: Schema.Struct({ from: Schema.Number }), item: Schema.Number }) },
  topics: { room: topic({ message: Schema.Struct({ user: Schema.String, at: Schema.Date }) }) },
})
declare const client: Client<typeof Chat>

describe("client types from a contract", () => {
  it("types RPC inputs and outputs", () => {
    expectTypeOf(client.rpc.add).parameter(0).toEqualTypeOf<{ readonly a: number; readonly b: number }>()
    expectTypeOf(client.rpc.add({ a: 1, b: 2 })).resolves.toEqualTypeOf<number>()
    // @ts-expect-error: a must be a number
    void client.rpc.add({ a: "1", b: 2 })
    // @ts-expect-error: no such procedure
    void client.rpc.subtract
  })
  it("types stream items and topic messages (decoded: Date, not string)", () => {
    expectTypeOf(client.streams.countdown({ from: 3 })).toEqualTypeOf<AsyncIterable<number>>()
    client.topics.room("lobby").subscribe((m) => {
      expectTypeOf(m.at).toEqualTypeOf<Date>()
    })
    expectTypeOf(client.topics.room("lobby").publish)
      .parameter(0)
      .toEqualTypeOf<{ readonly user: string; readonly at: Date }>()
  })
  it("exposes the declared error type and the transport ids", () => {
    expectTypeOf<ErrorOf<typeof Chat.rpc.divide>>().toEqualTypeOf<{ readonly _tag: "DivisionByZero" }>()
    expectTypeOf<ErrorOf<typeof Chat.rpc.add>>().toEqualTypeOf<never>()
    expectTypeOf(client.transport).toEqualTypeOf<TransportId | undefined>()
  })
})

describe("delivery", () => {
  const Game = contract({
    streams: {
      ticks: stream({ input: Schema.Null, item: Schema.Number }),
      position: stream({ input: Schema.Null, item: Schema.Number, delivery: "unreliable" }),
    },
    topics: {
      chat: topic({ message: Schema.String }),
      cursor: topic({ message: Schema.Struct({ x: Schema.Number }), delivery: "unreliable" }),
    },
    peers: {
      note: peer({ message: Schema.String }),
      pointer: peer({ message: Schema.Struct({ x: Schema.Number }), delivery: "unreliable" }),
    },
  })
  it("carries the declared delivery in the definition types", () => {
    expectTypeOf(Game.topics.cursor.delivery).toEqualTypeOf<"unreliable">()
    expectTypeOf(Game.topics.chat.delivery).toEqualTypeOf<"reliable">()
    expectTypeOf(Game.streams.position.delivery).toEqualTypeOf<"unreliable">()
    expectTypeOf(Game.streams.ticks.delivery).toEqualTypeOf<"reliable">()
    expectTypeOf(Game.peers.pointer.delivery).toEqualTypeOf<"unreliable">()
    expectTypeOf(Game.peers.note.delivery).toEqualTypeOf<"reliable">()
    expectTypeOf<Delivery>().toEqualTypeOf<"reliable" | "unreliable">()
    // @ts-expect-error: only "reliable" or "unreliable"
    topic({ message: Schema.String, delivery: "lossy" })
    // @ts-expect-error: the same two for peer channels
    peer({ message: Schema.String, delivery: "lossy" })
  })
  it("types an unreliable channel's client API like a reliable one", () => {
    const game = {} as Client<typeof Game>
    game.topics.cursor("k").subscribe((m) => {
      expectTypeOf(m).toEqualTypeOf<{ readonly x: number }>()
    })
    expectTypeOf(game.streams.position(null)).toEqualTypeOf<AsyncIterable<number>>()
  })
})

const Board = contract({
  peers: { cursor: peer({ message: Schema.Struct({ x: Schema.Number, at: Schema.Date }) }) },
})
declare const board: Client<typeof Board>

describe("peer channels from a contract", () => {
  it("types what a peer connection sends and receives (decoded: Date, not string)", async () => {
    const conn = await board.peers.connect("peer-id")
    expectTypeOf(conn.channels.cursor.send).parameter(0).toEqualTypeOf<{ readonly x: number; readonly at: Date }>()
    conn.channels.cursor.subscribe((m) => {
      expectTypeOf(m.at).toEqualTypeOf<Date>()
    })
    // @ts-expect-error: x must be a number
    conn.channels.cursor.send({ x: "1", at: new Date() })
    // @ts-expect-error: no such peer channel
    void conn.channels.pointer
    expectTypeOf(conn.path).toEqualTypeOf<"direct" | "relay">()
    expectTypeOf(board.peers.id).toEqualTypeOf<string | undefined>()
  })
  it("gives a contract without peers no peer channels", async () => {
    const conn = await client.peers.connect("peer-id")
    // @ts-expect-error: Chat declares no peer channels
    void conn.channels.cursor
    expectTypeOf(Chat.peers).toEqualTypeOf<{ readonly [K in never]: never }>()
  })
})

const Room = contract({
  topics: {
    room: topic({ message: Schema.String, presence: Schema.Struct({ name: Schema.String }) }),
    feed: topic({ message: Schema.Number }),
  },
})

describe("presence types", () => {
  const c = {} as Client<typeof Room>

  it("types presence() and the join/leave listeners from the schema, only where it is declared", () => {
    expectTypeOf(c.topics.room("k").presence).returns.resolves.toEqualTypeOf<
      readonly { readonly id: string; readonly data: { readonly name: string } }[]
    >()
    c.topics.room("k").subscribe(() => {}, { presence: { join: (m) => expectTypeOf(m.data.name).toBeString() } })
    // @ts-expect-error a topic without presence has no presence()
    c.topics.feed("k").presence()
  })
})
