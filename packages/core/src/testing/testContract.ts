import * as Schema from "effect/Schema"
import { contract, peer, rpc, stream, topic } from "../contract/contract.ts"
import { effectCodec } from "../contract/effectCodec.ts"
import { registerEffectCodec } from "../contract/payloadCodec.ts"

// The test contract is made of Effect schemas and this module loads Effect anyway: whoever compiles it (a
// server, a client, a Chromium page) finds the Effect codec registered.
registerEffectCodec(effectCodec)

const Pair = Schema.Struct({ a: Schema.Number, b: Schema.Number })

/** The contract every transport is tested with. */
export const TestContract = contract({
  rpc: {
    add: rpc({ input: Pair, output: Schema.Number }),
    divide: rpc({
      input: Pair,
      output: Schema.Number,
      error: Schema.Struct({ _tag: Schema.Literal("DivisionByZero") }),
    }),
    echoDate: rpc({
      input: Schema.Struct({ at: Schema.Date }),
      output: Schema.Struct({ at: Schema.Date, iso: Schema.String }),
    }),
    echoBytes: rpc({
      input: Schema.Struct({ bytes: Schema.Uint8Array }),
      output: Schema.Struct({ bytes: Schema.Uint8Array, length: Schema.Number }),
    }),
    delayed: rpc({ input: Schema.Struct({ ms: Schema.Number, value: Schema.Number }), output: Schema.Number }),
    hang: rpc({ input: Schema.Struct({ tag: Schema.String }), output: Schema.Number }),
    wasAborted: rpc({ input: Schema.Struct({ tag: Schema.String }), output: Schema.Boolean }),
    crash: rpc({ input: Schema.Struct({}), output: Schema.Number }),
  },
  streams: {
    countdown: stream({ input: Schema.Struct({ from: Schema.Number }), item: Schema.Number }),
    ticks: stream({ input: Schema.Struct({ tag: Schema.String, intervalMs: Schema.Number }), item: Schema.Number }),
    telemetry: stream({ input: Schema.Struct({ count: Schema.Number }), item: Schema.Number, delivery: "unreliable" }),
    breaking: stream({
      input: Schema.Struct({ after: Schema.Number }),
      item: Schema.Number,
      error: Schema.Struct({ _tag: Schema.Literal("StreamBroke"), at: Schema.Number }),
    }),
  },
  topics: {
    room: topic({ message: Schema.Struct({ user: Schema.String, text: Schema.String, at: Schema.Date }) }),
    feed: topic({ message: Schema.Number }),
    cursor: topic({ message: Schema.Number, delivery: "unreliable" }),
    // Who is subscribed, listed with data the server computes (docs/presence.md); a Date checks its codec.
    lobby: topic({
      message: Schema.String,
      presence: Schema.Struct({ name: Schema.String, since: Schema.Date }),
    }),
  },
  peers: {
    cursor: peer({ message: Schema.Struct({ x: Schema.Number, y: Schema.Number, at: Schema.Date }) }),
    note: peer({ message: Schema.String }),
    // Latest-value-wins between peers (docs/peers.md#unreliable-peer-channels).
    position: peer({ message: Schema.Struct({ x: Schema.Number, y: Schema.Number }), delivery: "unreliable" }),
  },
})

export type TestContract = typeof TestContract

/** Server-side state the handlers record, for assertions. */
export interface TestServerState {
  /** Tags of `hang` calls and `ticks` streams whose `ctx.signal` aborted. */
  readonly aborted: Set<string>
}

interface Ctx {
  readonly signal: AbortSignal
  fail(error: unknown): never
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener("abort", done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener("abort", done, { once: true })
  })

/**
 * The handlers of `TestContract`, written as a user would. Typed loosely here because core cannot see
 * the server package's handler types; the server's own tests check the typed form.
 */
export function testHandlers(state: TestServerState) {
  const onAbort = (tag: string, signal: AbortSignal) => signal.addEventListener("abort", () => state.aborted.add(tag))
  return {
    rpc: {
      add: ({ a, b }: { a: number; b: number }) => a + b,
      divide: ({ a, b }: { a: number; b: number }, ctx: Ctx) =>
        b === 0 ? ctx.fail({ _tag: "DivisionByZero" }) : a / b,
      echoDate: ({ at }: { at: Date }) => ({ at, iso: at.toISOString() }),
      echoBytes: ({ bytes }: { bytes: Uint8Array }) => ({ bytes, length: bytes.length }),
      delayed: async ({ ms, value }: { ms: number; value: number }) => {
        await sleep(ms)
        return value
      },
      hang: ({ tag }: { tag: string }, ctx: Ctx) =>
        new Promise<number>((_resolve, reject) => {
          onAbort(tag, ctx.signal)
          ctx.signal.addEventListener("abort", () => reject(new Error("aborted")))
        }),
      wasAborted: ({ tag }: { tag: string }) => state.aborted.has(tag),
      crash: () => {
        throw new Error("secret internal detail")
      },
    },
    streams: {
      countdown: async function* ({ from }: { from: number }) {
        for (let i = from; i >= 0; i--) yield i
      },
      ticks: async function* ({ tag, intervalMs }: { tag: string; intervalMs: number }, ctx: Ctx) {
        onAbort(tag, ctx.signal)
        for (let i = 0; !ctx.signal.aborted; i++) {
          yield i
          await sleep(intervalMs, ctx.signal)
        }
      },
      telemetry: async function* ({ count }: { count: number }) {
        for (let i = 1; i <= count; i++) {
          await sleep(1)
          yield i
        }
      },
      breaking: async function* ({ after }: { after: number }, ctx: Ctx) {
        for (let i = 0; i < after; i++) yield i
        ctx.fail({ _tag: "StreamBroke", at: after })
      },
    },
    // Clients may publish to `room`; `feed` is server-only (the default).
    topics: {
      room: { canPublish: () => true },
      lobby: {
        presence: (key: string, ctx: { sessionId: string }) => ({
          name: `${key}:${ctx.sessionId}`,
          since: new Date(0),
        }),
      },
    },
  }
}
