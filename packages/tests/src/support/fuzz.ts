import { createClient } from "@switchyard/client-browser/all"
import {
  type Client,
  decodeClientFrame,
  FrameType,
  peekRequestHeader,
  type TransportId,
  utf8Length,
} from "@switchyard/core"
import { TestContract, waitFor } from "@switchyard/core/testing"
import type { Server } from "@switchyard/server-node"
import { EventSource } from "eventsource"
import fc from "fast-check"
import { expect } from "vitest"
import WebSocket from "ws"
import { testClientOptions } from "./harnesses.ts"

/**
 * What the fuzz tests against a live server share (fuzz.websocket.test.ts, fuzz.http.test.ts, and
 * scripts/soak.mjs through FUZZ_RUNS): bounded runs, the hostile inputs, the answer the codec predicts for
 * each, honest clients that must notice nothing, and a watch on uncaught exceptions.
 */

/**
 * fast-check's bounds for one property: `runs` cases (FUZZ_RUNS overrides it; the soak raises it), and a
 * time limit after which the property stops with what it ran, so that a slow machine costs no more time.
 */
export function fuzzParams(runs: number, timeLimitMs = 5000): fc.Parameters<unknown> {
  const override = Number(process.env.FUZZ_RUNS ?? 0)
  return override > 0
    ? { numRuns: override, interruptAfterTimeLimit: Number(process.env.FUZZ_TIME_LIMIT_MS ?? 120_000) }
    : { numRuns: runs, interruptAfterTimeLimit: timeLimitMs }
}

/** The vitest timeout of a fuzz test: its properties' time limits, with room for the rest. */
export function fuzzTestTimeoutMs(properties = 1): number {
  const limit = Number(process.env.FUZZ_RUNS ?? 0) > 0 ? Number(process.env.FUZZ_TIME_LIMIT_MS ?? 120_000) : 5000
  return properties * limit + 30_000
}

/** The server's defaults, as the fixture leaves them. */
export const maxMessageBytes = 1024 * 1024
export const maxDepth = 64
/** `limits.maxInvalidFrames`' default: the frame after this many invalid ones closes the connection. */
export const maxInvalidFrames = 16

/**
 * The code the server answers a message with when the codec refuses it outright (a NOTICE), or
 * `undefined` when the message is a frame, or a request whose head the server reads to answer its id.
 */
export function refusalOf(message: string | Uint8Array): string | undefined {
  const result = decodeClientFrame(typeof message === "string" ? message : message, { maxDepth, maxMessageBytes })
  if (result.ok || result.request) return undefined
  if (
    typeof message === "string" &&
    (result.code === "MESSAGE_TOO_LARGE" || result.code === "FRAME_TOO_DEEP") &&
    peekRequestHeader(message)
  )
    return undefined
  return result.code
}

const frameTypes = Object.values(FrameType).filter((v): v is number => typeof v === "number")

/** A field near the bounds the decoder checks, or any JSON. */
const field = fc.oneof(
  fc.constantFrom(0, 1, -1, 1.5, 2 ** 20 + 1, 2 ** 53, null, true, "", "add", "feed", "k"),
  fc.string({ maxLength: 4 }),
  fc.constantFrom(129, 257).map((n) => "n".repeat(n)),
  fc.jsonValue({ maxDepth: 2 }),
)

/** A JSON array headed by a frame type, with fields that often pass the checks. */
export const shapedFrame = fc
  .tuple(fc.oneof(fc.constantFrom(...frameTypes), fc.integer({ min: -2, max: 40 })), fc.array(field, { maxLength: 7 }))
  .map(([type, rest]) => JSON.stringify([type, ...rest]))

/** A frame text with characters replaced, inserted or cut. */
const mutated = fc
  .tuple(
    shapedFrame,
    fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.string({ maxLength: 2 })), { minLength: 1, maxLength: 3 }),
  )
  .map(([source, edits]) =>
    edits.reduce((s, [at, kind, chars]) => {
      const i = at % (s.length + 1)
      if (kind === 0) return s.slice(0, i) + chars + s.slice(i + 1)
      return kind === 1 ? s.slice(0, i) + chars + s.slice(i) : s.slice(0, i) + s.slice(i + 2)
    }, source),
  )

/** Nesting past `maxDepth`, with or without a request head the server can still answer. */
const deep = fc
  .tuple(fc.integer({ min: 65, max: 400 }), fc.boolean())
  .map(([n, head]) => `${head ? "[9," : "["}${"[".repeat(n)}${"]".repeat(n)}]`)

/**
 * Messages a socket or a body line can carry that the codec refuses outright: each must get a NOTICE
 * with the code `refusalOf` names. Text has no newline (a body line cannot hold one); bytes go as binary
 * WebSocket messages only.
 */
export function garbage(options: { binary: boolean }): fc.Arbitrary<string | Uint8Array> {
  const text = fc
    .oneof(fc.string({ unit: "grapheme", minLength: 1 }), fc.json(), shapedFrame, mutated, deep)
    .map((s) => s.replace(/[\r\n]/g, " "))
  const all = options.binary ? fc.oneof(text, fc.uint8Array({ minLength: 1, maxLength: 64 })) : text
  return all.filter((m) => refusalOf(m) !== undefined && (typeof m !== "string" || m.trim() !== ""))
}

/** Bytes of a message as the server counts them. */
export const bytesOf = (m: string | Uint8Array) => (typeof m === "string" ? utf8Length(m) : m.byteLength)

/**
 * Records uncaught exceptions and unhandled rejections of this process (the server runs in it) from
 * `watch()` to `stop()`, which returns them.
 */
export function watchUncaught() {
  const seen: unknown[] = []
  const record = (error: unknown) => seen.push(error)
  process.on("uncaughtException", record)
  process.on("unhandledRejection", record)
  return () => {
    process.off("uncaughtException", record)
    process.off("unhandledRejection", record)
    return seen
  }
}

/**
 * One honest client per transport beside the attacker, each subscribed to `feed("k")` while the server
 * publishes 1, 2, 3, … on it every few milliseconds, and calling `add` in a loop. `check()` stops the
 * traffic and asserts what an attack must not cause: a gap, a duplicate, a reordering, a failed call, an
 * error event, or any change of state or transport.
 */
export async function bystanders(
  server: Server<TestContract>,
  url: string,
  transports: readonly TransportId[] = ["websocket", "sse", "long-polling", "polling"],
) {
  const clients = transports.map((transport) => {
    const client: Client<TestContract> = createClient(TestContract, {
      url,
      transports: [transport],
      WebSocket,
      EventSource,
      ...testClientOptions,
    })
    const seen = { messages: [] as number[], errors: [] as string[], states: [] as string[], bad: 0, calls: 0 }
    client.on("error", (e) => seen.errors.push(`${e.code}: ${e.message}`))
    client.on("state", (s) => seen.states.push(s))
    client.topics.feed("k").subscribe((n) => seen.messages.push(n))
    return { transport, client, seen }
  })
  await waitFor(() => clients.every((c) => c.client.state === "connected"), 5000, "the bystanders to connect")
  for (const c of clients) c.seen.states.length = 0
  // Subscriptions confirmed before the first publication, so that each must see every one of them.
  await Promise.all(clients.map((c) => c.client.rpc.add({ a: 0, b: 0 })))
  await new Promise((resolve) => setTimeout(resolve, 100))
  let published = 0
  const publisher = setInterval(() => server.topics.feed("k").publish(++published), 5)
  let calling = true
  const callers = clients.map(async ({ client, seen }) => {
    for (let i = 1; calling; i++) {
      if ((await client.rpc.add({ a: i, b: 1 })) !== i + 1) seen.bad++
      seen.calls++
    }
  })
  // Handles the callers' rejections from the start: closing mid-call (a failed test's cleanup) rejects one.
  const settled = Promise.allSettled(callers)
  return {
    async check() {
      clearInterval(publisher)
      calling = false
      await Promise.all(callers)
      for (const { transport, client, seen } of clients) {
        await waitFor(() => seen.messages.at(-1) === published, 5000, `every message on ${transport}`)
        expect(seen.messages, transport).toEqual(Array.from({ length: published }, (_, i) => i + 1))
        expect({ transport, errors: seen.errors, states: seen.states, bad: seen.bad }).toEqual({
          transport,
          errors: [],
          states: [],
          bad: 0,
        })
        expect(client.transport).toBe(transport)
        expect(seen.calls).toBeGreaterThan(0)
      }
      await Promise.all(clients.map((c) => c.client.close()))
      return { published, calls: clients.reduce((n, c) => n + c.seen.calls, 0) }
    },
    async close() {
      clearInterval(publisher)
      calling = false
      await Promise.all(clients.map((c) => c.client.close()))
      await settled
    },
  }
}
