import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decodeClientFrame, decodeServerFrame } from "./codec.ts"
import { body, control, dataFrame, stringifyPayload, unreliableFrame } from "./encode.ts"

/**
 * Encoding then decoding gives back what was encoded, for every frame type of both directions, over
 * fields fast-check makes anywhere within the decoder's bounds (names of 1 to 128 code units, unpaired
 * surrogates included, counts up to 2^53 − 1, any JSON payload). Bounded as codec.property.test.ts is.
 */
const runs = Number(process.env.FUZZ_RUNS ?? 2000)
const params = { numRuns: runs, interruptAfterTimeLimit: runs > 2000 ? 600_000 : 4000 }
/** The vitest timeout of each property: its time limit, with room to shrink a counterexample. */
const timeout = params.interruptAfterTimeLimit + 30_000

type Frame = readonly unknown[]
const text = (v: unknown) => stringifyPayload(v) as string

const seq = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })
const count = fc.nat({ max: Number.MAX_SAFE_INTEGER })
/** One UTF-16 code unit, unpaired surrogates included: the decoder's bounds count these. */
const codeUnit = fc.nat({ max: 0xffff }).map((c) => String.fromCharCode(c))
/** Strings of `min` to `max` code units, their bounds as often as the rest (fast-check favours short ones). */
const sized = (min: number, max: number) =>
  fc.oneof(
    fc.string({ unit: codeUnit, minLength: min, maxLength: max }),
    fc.constantFrom(min, max).chain((n) => fc.string({ unit: codeUnit, minLength: n, maxLength: n })),
  )
const name = sized(1, 128)
const key = sized(0, 256)
const payload = fc.jsonValue()
const credit = fc.integer({ min: 1, max: 2 ** 20 })
const epoch = sized(1, 64)
const limits = fc.record({
  maxDepth: count,
  maxMessageBytes: count,
  heartbeatIntervalMs: count,
  heartbeatTimeoutMs: count,
  resumeWindowMs: count,
})
const offers = fc.array(
  fc.record({
    id: fc.constantFrom("websocket", "sse", "long-polling", "x-new"),
    duplex: fc.boolean(),
    binary: fc.boolean(),
    ordered: fc.boolean(),
  }),
  { maxLength: 4 },
)
const signalData = fc.oneof(
  fc.record({ kind: fc.constant("offer" as const), data: fc.record({ type: fc.constant("offer"), sdp: fc.string() }) }),
  fc.record({
    kind: fc.constant("answer" as const),
    data: fc.record({ type: fc.constant("answer"), sdp: fc.string() }),
  }),
  fc.record({
    kind: fc.constant("candidate" as const),
    data: fc.option(
      fc.record({
        candidate: fc.string(),
        sdpMid: fc.option(fc.string({ maxLength: 64 })),
        sdpMLineIndex: fc.option(count),
      }),
    ),
  }),
  fc.record({ kind: fc.constant("end" as const), data: fc.string({ maxLength: 256 }) }),
)
/** JSON's view of a payload: what arrives is what `JSON.stringify` wrote. */
const sent = (v: unknown) => JSON.parse(text(v)) as unknown

/** Client frames as the encoder writes them, each with the frame it must decode to. */
const clientFrames = fc.oneof<fc.Arbitrary<[string, Frame]>[]>(
  fc
    .tuple(seq, seq, name, payload)
    .map(([s, id, p, i]) => [dataFrame(1, s, body.call(id, p, text(i))), [1, s, id, p, sent(i)]]),
  fc
    .tuple(seq, seq, name, payload, credit)
    .map(([s, id, n, i, c]) => [dataFrame(4, s, body.stream(id, n, text(i), c)), [4, s, id, n, sent(i), c]]),
  fc.tuple(seq, seq).map(([s, id]) => [dataFrame(7, s, body.cancel(id)), [7, s, id]]),
  fc.tuple(seq, seq, credit).map(([s, id, c]) => [dataFrame(8, s, body.credit(id, c)), [8, s, id, c]]),
  fc
    .tuple(seq, seq, name, key, fc.option(fc.option(fc.tuple(count, epoch)), { nil: undefined }))
    .map(([s, id, t, k, since]) => [
      dataFrame(9, s, body.subscribe(id, t, k, since)),
      since === undefined ? [9, s, id, t, k] : [9, s, id, t, k, since],
    ]),
  fc.tuple(seq, name, key).map(([s, t, k]) => [dataFrame(10, s, body.unsubscribe(t, k)), [10, s, t, k]]),
  fc
    .tuple(seq, seq, name, key, payload)
    .map(([s, id, t, k, m]) => [dataFrame(11, s, body.publish(id, t, k, text(m))), [11, s, id, t, k, sent(m)]]),
  fc
    .tuple(seq, seq, name, key, fc.boolean())
    .map(([s, id, t, k, w]) => [dataFrame(15, s, body.presence(id, t, k, w)), [15, s, id, t, k, w]]),
  fc
    .tuple(seq, seq, signalData, fc.option(fc.constantFrom("webrtc", "x-rtc"), { nil: undefined }))
    .map(([s, a, { kind, data }, t]) => [
      dataFrame(13, s, body.signal(a, kind, data, t)),
      t === undefined ? [13, s, a, kind, sent(data)] : [13, s, a, kind, sent(data), t],
    ]),
  fc
    .tuple(seq, seq, fc.constantFrom("connect", "relay", "close"), payload)
    .map(([s, c, op, d]) => [dataFrame(14, s, body.peer(c, op, text(d))), [14, s, c, op, sent(d)]]),
  fc
    .tuple(seq, fc.option(fc.string({ maxLength: 256 })), count)
    .map(([v, t, r]) => [control.hello(v, t, r), [20, v, t, r]]),
  count.map((n) => [control.ack(n), [22, n]]),
  count.map((n) => [control.pong(n), [24, n]]),
  count.map((n) => [control.probe(n), [27, n]]),
  fc
    .tuple(fc.constantFrom("INVALID_FRAME", "CLIENT_CLOSED"), fc.string({ unit: "binary" }))
    .map(([c, m]) => [control.bye(c, m), [26, c, m]]),
)

/** Server frames as the encoder writes them, each with the frame it must decode to. */
const serverFrames = fc.oneof<fc.Arbitrary<[string, Frame]>[]>(
  fc.tuple(seq, seq, payload).map(([s, id, o]) => [dataFrame(2, s, body.result(id, text(o))), [2, s, id, sent(o)]]),
  fc
    .tuple(seq, seq, fc.string(), fc.option(payload, { nil: undefined }))
    .map(([s, id, m, d]) => [
      dataFrame(3, s, body.error(id, "FAILURE", m, d === undefined ? undefined : text(d))),
      d === undefined ? [3, s, id, "FAILURE", m] : [3, s, id, "FAILURE", m, sent(d)],
    ]),
  fc.tuple(seq, seq, payload).map(([s, id, i]) => [dataFrame(5, s, body.item(id, text(i))), [5, s, id, sent(i)]]),
  fc.tuple(seq, seq).map(([s, id]) => [dataFrame(6, s, body.end(id)), [6, s, id]]),
  fc
    .tuple(seq, name, key, payload, fc.option(fc.tuple(seq, fc.option(epoch, { nil: undefined })), { nil: undefined }))
    .map(([s, t, k, m, at]) => [
      dataFrame(12, s, body.message(t, k, text(m), at?.[0], at?.[1])),
      at === undefined
        ? [12, s, t, k, sent(m)]
        : at[1] === undefined
          ? [12, s, t, k, sent(m), at[0]]
          : [12, s, t, k, sent(m), at[0], at[1]],
    ]),
  fc
    .tuple(
      seq,
      name,
      key,
      fc.constantFrom("join" as const, "leave" as const),
      fc.string({ minLength: 1, maxLength: 128 }),
      payload,
    )
    .map(([s, t, k, e, m, d]) => [
      dataFrame(16, s, body.presenceEvent(t, k, e, m, text(d))),
      [16, s, t, k, e, m, sent(d)],
    ]),
  fc
    .tuple(
      seq,
      fc.string(),
      fc.string(),
      fc.boolean(),
      count,
      limits,
      fc.option(fc.tuple(offers, fc.option(fc.string({ minLength: 1, maxLength: 64 }), { nil: undefined })), {
        nil: undefined,
      }),
    )
    .map(([v, tok, id, resumed, r, l, o]) => [
      control.welcome(v, tok, id, resumed, r, l, o?.[0], o?.[1]),
      o === undefined
        ? [21, v, tok, id, resumed, r, l]
        : o[1] === undefined
          ? [21, v, tok, id, resumed, r, l, o[0]]
          : [21, v, tok, id, resumed, r, l, o[0], o[1]],
    ]),
  count.map((n) => [control.ping(n), [23, n]]),
  fc.tuple(seq, seq, payload).map(([n, id, i]) => [unreliableFrame(n, body.item(id, text(i))), [28, n, id, sent(i)]]),
  fc
    .tuple(seq, name, key, payload)
    .map(([n, t, k, m]) => [unreliableFrame(n, body.message(t, k, text(m))), [28, n, t, k, sent(m)]]),
  fc
    .tuple(fc.constantFrom("INVALID_FRAME", "SERVER_CLOSED"), fc.string({ unit: "binary" }))
    .map(([c, m]) => [control.notice(c, m), [25, c, m]]),
)

describe("encode, then decode", () => {
  it.each([
    ["client", clientFrames, decodeClientFrame],
    ["server", serverFrames, decodeServerFrame],
  ] as const)(
    "gives back every %s frame the encoder writes",
    (_side, frames, decode) => {
      fc.assert(
        fc.property(frames, ([encoded, expected]) => {
          expect(decode(encoded)).toEqual({ ok: true, frame: expected })
        }),
        params,
      )
    },
    timeout,
  )
})
