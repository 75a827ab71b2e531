import { contract, rpc, stream, topic } from "@switchyard/core"
import * as Effect from "effect/Effect"
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
