import { contract, rpc, stream, topic } from "@switchyard/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { describe, expectTypeOf, it } from "vitest"
import { createServer } from "./server.ts"

const Pair = Schema.Struct({ a: Schema.Number, b: Schema.Number })
const Chat = contract({
  rpc: {
    add: rpc({ input: Pair, output: Schema.Number }),
    divide: rpc({
      input: Pair,
      output: Schema.Number,
      error: Schema.Struct({ _tag: Schema.Literal("DivisionByZero") }),
    }),
  },
  streams: { countdown: stream({ input: Schema.Struct({ from: Schema.Number }), item: Schema.Number }) },
  topics: { room: topic({ message: Schema.Struct({ text: Schema.String }) }) },
})

describe("server handler types from a contract", () => {
  it("accepts values, Promises and Effects; async generators and Effect Streams", () => {
    createServer(Chat, {
      rpc: {
        add: ({ a, b }) => a + b,
        divide: ({ a, b }, ctx) => (b === 0 ? ctx.fail({ _tag: "DivisionByZero" }) : a / b),
      },
      streams: {
        countdown: async function* ({ from }) {
          for (let i = from; i >= 0; i--) yield i
        },
      },
    })
    createServer(Chat, {
      rpc: {
        add: async ({ a, b }) => a + b,
        divide: ({ a, b }) => (b === 0 ? Effect.fail({ _tag: "DivisionByZero" as const }) : Effect.succeed(a / b)),
      },
      streams: { countdown: ({ from }) => Stream.range(0, from) },
      topics: { room: { canPublish: (_key, message) => message.text.length < 100 } },
    })
  })
  it("rejects wrong outputs, undeclared errors and missing handlers", () => {
    createServer(Chat, {
      rpc: {
        // @ts-expect-error: output must be a number
        add: () => "three",
        // @ts-expect-error: not the declared error
        divide: (_input, ctx) => ctx.fail({ _tag: "Other" }),
      },
      streams: { countdown: async function* () {} },
    })
    // @ts-expect-error: streams.countdown is missing
    createServer(Chat, { rpc: { add: () => 1, divide: () => 1 } })
  })
  it("types server-side publish", () => {
    const server = createServer(Chat, {
      rpc: { add: () => 1, divide: () => 1 },
      streams: { countdown: async function* () {} },
    })
    expectTypeOf(server.topics.room("k").publish).parameter(0).toEqualTypeOf<{ readonly text: string }>()
  })
})

const Lobby = contract({
  topics: {
    room: topic({ message: Schema.String, presence: Schema.Struct({ name: Schema.String }) }),
    feed: topic({ message: Schema.Number }),
  },
})

describe("presence handler types", () => {
  it("requires the presence hook of a topic that declares presence, typed by its schema", () => {
    const server = createServer(Lobby, { topics: { room: { presence: (key) => ({ name: key }) } } })
    expectTypeOf(server.topics.room("k").presence).returns.resolves.toEqualTypeOf<
      readonly { readonly id: string; readonly data: { readonly name: string } }[]
    >()
    // @ts-expect-error the hook is required
    createServer(Lobby, { topics: { room: {} } })
    // @ts-expect-error the data must match the schema
    createServer(Lobby, { topics: { room: { presence: () => ({ name: 1 }) } } })
    // @ts-expect-error a topic without presence has no presence()
    server.topics.feed("k").presence()
  })
})

describe("identify", () => {
  it("is given what authenticate returned, and names an identity or none", () => {
    const handlers = { rpc: { add: () => 1, divide: () => 1 }, streams: { countdown: async function* () {} } }
    createServer(Chat, handlers, {
      authenticate: () => ({ userId: "u1", tenant: 7 }),
      identify: (auth) => {
        expectTypeOf(auth).toEqualTypeOf<{ userId: string; tenant: number }>()
        return auth.userId
      },
      trustedProxies: ["10.0.0.0/8", "::1"],
    })
    createServer(Chat, handlers, { authenticate: () => ({ userId: "u1" }), identify: () => undefined })
    // @ts-expect-error an identity is a string
    createServer(Chat, handlers, { authenticate: () => ({ userId: 1 }), identify: (auth) => auth.userId })
  })
})

class Inventory extends Context.Service<Inventory, { readonly count: Effect.Effect<number> }>()("test/Inventory") {}
class Clock extends Context.Service<Clock, { readonly now: Effect.Effect<number> }>()("test/Clock") {}
const inventory = Layer.succeed(Inventory)({ count: Effect.succeed(3) })
const clock = Layer.succeed(Clock)({ now: Effect.succeed(0) })
const Stock = contract({
  rpc: { count: rpc({ input: Schema.Struct({}), output: Schema.Number }) },
  streams: { levels: stream({ input: Schema.Struct({}), item: Schema.Number }) },
})
const count = () => Inventory.use((i) => i.count)
const levels = () => Stream.fromEffect(count())

describe("the layer option and the services handlers require", () => {
  it("lets Effects and Streams require what the layer provides", () => {
    createServer(Stock, { rpc: { count }, streams: { levels } }, { layer: inventory })
    // A layer that provides more, or may fail, will do.
    createServer(Stock, { rpc: { count }, streams: { levels } }, { layer: Layer.merge(inventory, clock) })
    createServer(
      Stock,
      { rpc: { count: () => Clock.use((c) => c.now) }, streams: { levels } },
      { layer: Layer.merge(inventory, clock).pipe(Layer.tap(() => Effect.fail("no database" as const))) },
    )
    // `ctx.auth` is still what authenticate returns.
    createServer(
      Stock,
      {
        rpc: {
          count: (_input, ctx) => {
            expectTypeOf(ctx.auth).toEqualTypeOf<{ userId: string }>()
            return count()
          },
        },
        streams: { levels },
      },
      { layer: inventory, authenticate: () => ({ userId: "u1" }) },
    )
  })
  it("takes type arguments: two for a server without a layer, three with one", () => {
    createServer<typeof Stock, { userId: string }>(
      Stock,
      { rpc: { count: (_input, ctx) => ctx.auth.userId.length }, streams: { levels: () => Stream.make(1) } },
      { authenticate: () => ({ userId: "u1" }) },
    )
    createServer<typeof Stock, { userId: string }, Inventory>(
      Stock,
      { rpc: { count }, streams: { levels } },
      { layer: inventory, authenticate: () => ({ userId: "u1" }) },
    )
  })
  it("rejects a requirement the layer does not provide, and any without a layer", () => {
    // @ts-expect-error: no layer, so an Effect must require nothing
    createServer(Stock, { rpc: { count }, streams: { levels: () => Stream.make(1) } })
    // @ts-expect-error: no layer, so a Stream must require nothing
    createServer(Stock, { rpc: { count: () => Effect.succeed(1) }, streams: { levels } })
    createServer(
      Stock,
      // @ts-expect-error: Clock is not in the layer
      { rpc: { count: () => Clock.use((c) => c.now) }, streams: { levels } },
      { layer: inventory },
    )
    createServer(
      Stock,
      // @ts-expect-error: Clock is not in the layer
      { rpc: { count }, streams: { levels: () => Stream.fromEffect(Clock.use((c) => c.now)) } },
      { layer: inventory },
    )
  })
  it("takes only a layer that requires nothing itself", () => {
    const needsClock = Layer.effect(
      Inventory,
      Clock.useSync((c) => ({ count: c.now })),
    )
    // @ts-expect-error: the layer still needs a Clock
    createServer(Stock, { rpc: { count }, streams: { levels } }, { layer: needsClock })
    createServer(Stock, { rpc: { count }, streams: { levels } }, { layer: needsClock.pipe(Layer.provide(clock)) })
  })
})

describe("hooks returning Effects: authenticate, topic policies, presence hooks, peers.authorize", () => {
  const Room = contract({
    rpc: { count: rpc({ input: Schema.Struct({}), output: Schema.Number }) },
    topics: {
      room: topic({ message: Schema.String, presence: Schema.Struct({ n: Schema.Number }) }),
      feed: topic({ message: Schema.String }),
    },
  })
  const yes = () => Inventory.use((i) => Effect.map(i.count, (n) => n > 0))
  const data = () => Inventory.use((i) => Effect.map(i.count, (n) => ({ n })))
  const userOf = () => Inventory.use((i) => Effect.map(i.count, (n) => ({ userId: `u${n}` })))
  it("may require what the layer provides; authenticate's Effect gives ctx.auth", () => {
    createServer(
      Room,
      {
        rpc: { count: (_input, ctx) => ctx.auth.userId.length },
        topics: { room: { canSubscribe: yes, canPublish: yes, presence: data }, feed: { canSubscribe: yes } },
      },
      {
        layer: inventory,
        authenticate: userOf,
        identify: (auth) => auth.userId,
        peers: { authorize: ({ from }) => Effect.map(yes(), (ok) => ok && from.auth.userId !== "") },
      },
    )
    // Without a layer, hooks' Effects that require nothing will do.
    createServer(
      Room,
      {
        rpc: { count: (_input, ctx) => ctx.auth.n },
        topics: { room: { canSubscribe: () => Effect.succeed(true), presence: () => Effect.succeed({ n: 1 }) } },
      },
      { authenticate: () => Effect.succeed({ n: 1 }), peers: { authorize: () => Effect.succeed(true) } },
    )
  })
  it("rejects a requirement the layer does not provide, and any without a layer", () => {
    const late = () => Clock.use((c) => Effect.map(c.now, (n) => n > 0))
    createServer(
      Room,
      // @ts-expect-error: Clock is not in the layer (canSubscribe)
      { rpc: { count: () => 1 }, topics: { room: { canSubscribe: late, presence: () => ({ n: 1 }) } } },
      { layer: inventory },
    )
    createServer(
      Room,
      // @ts-expect-error: Clock is not in the layer (canPublish)
      { rpc: { count: () => 1 }, topics: { room: { presence: () => ({ n: 1 }) }, feed: { canPublish: late } } },
      { layer: inventory },
    )
    createServer(
      Room,
      {
        rpc: { count: () => 1 },
        // @ts-expect-error: Clock is not in the layer (presence)
        topics: { room: { presence: () => Clock.use((c) => Effect.map(c.now, (n) => ({ n }))) } },
      },
      { layer: inventory },
    )
    const handlers = { rpc: { count: () => 1 }, topics: { room: { presence: () => ({ n: 1 }) } } }
    createServer(Room, handlers, {
      layer: inventory,
      // @ts-expect-error: Clock is not in the layer (authenticate)
      authenticate: () => Clock.use((c) => c.now),
    })
    createServer(Room, handlers, {
      layer: inventory,
      // @ts-expect-error: Clock is not in the layer (peers.authorize)
      peers: { authorize: late },
    })
    // @ts-expect-error: no layer, so authenticate's Effect must require nothing
    createServer(Room, handlers, { authenticate: userOf })
    // @ts-expect-error: no layer, so authorize's Effect must require nothing
    createServer(Room, handlers, { peers: { authorize: yes } })
    // @ts-expect-error: no layer, so a policy's Effect must require nothing
    createServer(Room, { rpc: { count: () => 1 }, topics: { room: { canSubscribe: yes, presence: () => ({ n: 1 }) } } })
    createServer(Room, {
      rpc: { count: () => 1 },
      // @ts-expect-error: a verdict is a boolean
      topics: { room: { canSubscribe: () => Effect.succeed(1), presence: () => ({ n: 1 }) } },
    })
  })
})
