import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { errorCodes } from "../errors.ts"
import { type DecodeResult, decodeClientFrame, decodeServerFrame, exceedsDepth, utf8Length } from "./codec.ts"
import { body, control, dataFrame, stringifyPayload, unreliableFrame } from "./encode.ts"
import { FrameType } from "./frames.ts"

/**
 * Properties of the one codec, over inputs fast-check makes (docs/protocol.md): decoding never throws,
 * whatever it is given; every frame it accepts is one the encoder writes (re-encoding its fields gives a
 * frame that decodes to the same thing); and encoding then decoding gives back what was encoded. Runs are
 * bounded by a fixed count and a time limit, so that CI pays a second or two; `FUZZ_RUNS` raises the count
 * (the soak script does).
 */
const runs = Number(process.env.FUZZ_RUNS ?? 2000)
const params = { numRuns: runs, interruptAfterTimeLimit: runs > 2000 ? 600_000 : 4000 }
/** The vitest timeout of each property: its time limit, with room to shrink a counterexample. */
const timeout = params.interruptAfterTimeLimit + 30_000

type Frame = readonly unknown[]
const text = (v: unknown) => stringifyPayload(v) as string

/** The encoder's text for a decoded client frame: each field handed back to the function that writes it. */
function encodeClient(f: Frame): string {
  const [type, seq] = f as [number, number]
  const a = f as unknown[]
  switch (type) {
    case FrameType.CALL:
      return dataFrame(type, seq, body.call(a[2] as number, a[3] as string, text(a[4])))
    case FrameType.STREAM:
      return dataFrame(type, seq, body.stream(a[2] as number, a[3] as string, text(a[4]), a[5] as number))
    case FrameType.CANCEL:
      return dataFrame(type, seq, body.cancel(a[2] as number))
    case FrameType.CREDIT:
      return dataFrame(type, seq, body.credit(a[2] as number, a[3] as number))
    case FrameType.SUBSCRIBE:
      return dataFrame(type, seq, body.subscribe(a[2] as number, a[3] as string, a[4] as string, a[5] as never))
    case FrameType.UNSUBSCRIBE:
      return dataFrame(type, seq, body.unsubscribe(a[2] as string, a[3] as string))
    case FrameType.PUBLISH:
      return dataFrame(type, seq, body.publish(a[2] as number, a[3] as string, a[4] as string, text(a[5])))
    case FrameType.PRESENCE:
      return dataFrame(type, seq, body.presence(a[2] as number, a[3] as string, a[4] as string, a[5] as boolean))
    case FrameType.HELLO:
      return control.hello(seq, a[2] as string | null, a[3] as number)
    case FrameType.PONG:
      return control.pong(seq)
    default:
      return encodeShared(f)
  }
}

/** The encoder's text for a decoded server frame. */
function encodeServer(f: Frame): string {
  const [type, seq] = f as [number, number]
  const a = f as unknown[]
  switch (type) {
    case FrameType.RESULT:
      return dataFrame(type, seq, body.result(a[2] as number, text(a[3])))
    case FrameType.ITEM:
      return dataFrame(type, seq, body.item(a[2] as number, text(a[3])))
    case FrameType.ERROR:
      return dataFrame(
        type,
        seq,
        body.error(a[2] as number, a[3] as never, a[4] as string, a.length === 6 ? text(a[5]) : undefined),
      )
    case FrameType.END:
      return dataFrame(type, seq, body.end(a[2] as number))
    case FrameType.MESSAGE:
      return dataFrame(
        type,
        seq,
        body.message(
          a[2] as string,
          a[3] as string,
          text(a[4]),
          a[5] as number | undefined,
          a[6] as string | undefined,
        ),
      )
    case FrameType.PRESENCE_EVENT:
      return dataFrame(
        type,
        seq,
        body.presenceEvent(a[2] as string, a[3] as string, a[4] as "join", a[5] as string, text(a[6])),
      )
    case FrameType.WELCOME:
      return control.welcome(
        seq,
        ...(a.slice(2) as Parameters<typeof control.welcome> extends [number, ...infer R] ? R : never),
      )
    case FrameType.PING:
      return control.ping(seq)
    case FrameType.UNRELIABLE:
      return unreliableFrame(
        seq,
        a.length === 4
          ? body.item(a[2] as number, text(a[3]))
          : body.message(a[2] as string, a[3] as string, text(a[4])),
      )
    default:
      return encodeShared(f)
  }
}

/** Frames both sides send. */
function encodeShared(f: Frame): string {
  const [type, seq] = f as [number, number]
  const a = f as unknown[]
  switch (type) {
    case FrameType.SIGNAL:
      return dataFrame(type, seq, body.signal(a[2] as number, a[3] as never, a[4], a[5] as string | undefined))
    case FrameType.PEER:
      return dataFrame(type, seq, body.peer(a[2] as number, a[3] as string, text(a[4])))
    case FrameType.ACK:
      return control.ack(seq)
    case FrameType.PROBE:
      return control.probe(seq)
    case FrameType.NOTICE:
      return control.notice(a[1] as never, a[2] as string)
    case FrameType.BYE:
      return control.bye(a[1] as never, a[2] as string)
    default:
      throw new Error(`the decoder accepted a frame of type ${String(type)}, which no encoder writes`)
  }
}

const sides = [
  { name: "decodeClientFrame", decode: decodeClientFrame, encode: encodeClient },
  { name: "decodeServerFrame", decode: decodeServerFrame, encode: encodeServer },
] as const

/** What every decode must satisfy, whatever `input` is. */
function holds(side: (typeof sides)[number], input: unknown, options?: { maxDepth: number; maxMessageBytes: number }) {
  let result: DecodeResult<Frame>
  try {
    result = side.decode(input, options)
  } catch (e) {
    throw new Error(`${side.name} threw on ${JSON.stringify(input)}: ${String(e)}`)
  }
  if (!result.ok) {
    expect(Object.hasOwn(errorCodes, result.code), result.code).toBe(true)
    expect(typeof result.message).toBe("string")
    return
  }
  expect(typeof input).toBe("string")
  const source = input as string
  // What was accepted is the text's own JSON, within the bounds asked for.
  expect(result.frame).toEqual(JSON.parse(source))
  if (options) {
    expect(Buffer.byteLength(source)).toBeLessThanOrEqual(options.maxMessageBytes)
    expect(exceedsDepth(source, options.maxDepth)).toBe(false)
  }
  // …and a frame the encoder writes: its fields, encoded again, decode to the same frame.
  const again = side.decode(side.encode(result.frame))
  expect(again).toEqual({ ok: true, frame: asSent(result.frame) })
}

/**
 * Where each frame type carries JSON the application (or the session's limits and offers) owns: the
 * decoder passes it on unchecked, and the schema judges it. Only there may a value differ from its
 * re-encoding, as `JSON.stringify` writes it (`-0` becomes `0`); every field the codec checks must match
 * exactly.
 */
const payloadSlots: Readonly<Record<number, readonly number[]>> = {
  [FrameType.CALL]: [4],
  [FrameType.STREAM]: [4],
  [FrameType.PUBLISH]: [5],
  [FrameType.SIGNAL]: [4],
  [FrameType.PEER]: [4],
  [FrameType.RESULT]: [3],
  [FrameType.ITEM]: [3],
  [FrameType.ERROR]: [5],
  [FrameType.MESSAGE]: [4],
  [FrameType.PRESENCE_EVENT]: [6],
  [FrameType.WELCOME]: [6, 7],
  [FrameType.UNRELIABLE]: [3, 4],
}

function asSent(frame: Frame): Frame {
  const slots = payloadSlots[frame[0] as number] ?? []
  return frame.map((v, i) =>
    slots.includes(i) && (frame[0] !== FrameType.UNRELIABLE || i === frame.length - 1) ? JSON.parse(text(v)) : v,
  )
}

const frameTypes = Object.values(FrameType).filter((v): v is number => typeof v === "number")

/** Field values near every bound the decoder checks, and any JSON. */
const field = fc.oneof(
  fc.constantFrom(0, 1, 2, -1, 1.5, 2 ** 20, 2 ** 20 + 1, 2 ** 53 - 1, 2 ** 53, null, true, false, "", "x"),
  fc.integer({ min: 1, max: 1000 }),
  fc.string({ maxLength: 3 }),
  fc.constantFrom(127, 128, 129, 255, 256, 257).map((n) => "n".repeat(n)),
  fc.constantFrom("offer", "answer", "candidate", "end", "join", "leave", "connect", "relay", "websocket", "sse"),
  fc.record({ type: fc.constantFrom("offer", "answer"), sdp: fc.string({ maxLength: 8 }) }),
  fc.record({ candidate: fc.string({ maxLength: 8 }), sdpMid: fc.option(fc.string({ maxLength: 3 })) }),
  fc.tuple(fc.nat(), fc.string({ maxLength: 3 })),
  fc.record({
    maxDepth: fc.nat(),
    maxMessageBytes: fc.nat(),
    heartbeatIntervalMs: fc.nat(),
    heartbeatTimeoutMs: fc.nat(),
    resumeWindowMs: fc.nat(),
  }),
  fc.array(fc.record({ id: fc.string(), duplex: fc.boolean(), binary: fc.boolean(), ordered: fc.boolean() }), {
    maxLength: 2,
  }),
  fc.jsonValue({ maxDepth: 3 }),
)

/** A JSON array headed by a frame type (or not), with fields that often pass the checks: the decoder's branches. */
const shapedFrame = fc
  .tuple(fc.oneof(fc.constantFrom(...frameTypes), fc.integer()), fc.array(field, { maxLength: 9 }))
  .map(([type, rest]) => JSON.stringify([type, ...rest]))

/** Frame text written token by token: numbers and spacing as JSON allows them but `JSON.stringify` never writes. */
const tokenFrame = fc
  .tuple(
    fc.constantFrom(...frameTypes),
    fc.array(
      fc.oneof(
        fc.constantFrom("-0", "0.0", "1.0", "1e0", "1E+0", " 1 ", "\t2", '"\\u0061"', "null"),
        field.map(JSON.stringify),
      ),
      {
        maxLength: 8,
      },
    ),
  )
  .map(([type, tokens]) => `[${[type, ...tokens].join(",")}]`)

/** A frame text with a few characters replaced, inserted or cut. */
const mutated = fc
  .tuple(
    shapedFrame,
    fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.string({ unit: "binary", maxLength: 2 })), { maxLength: 3 }),
  )
  .map(([source, edits]) =>
    edits.reduce((s, [at, kind, chars]) => {
      const i = at % (s.length + 1)
      return kind === 0
        ? s.slice(0, i) + chars + s.slice(i + 1)
        : kind === 1
          ? s.slice(0, i) + chars + s.slice(i)
          : s.slice(0, i) + s.slice(i + 2)
    }, source),
  )

/** Anything a socket or a body can carry, and a few things it cannot. */
const anyInput = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme" }),
  fc.uint8Array().map((bytes) => Buffer.from(bytes).toString("utf8")),
  fc.uint8Array(),
  fc.anything(),
  fc.json(),
  { arbitrary: shapedFrame, weight: 3 },
  { arbitrary: tokenFrame, weight: 3 },
  { arbitrary: mutated, weight: 2 },
)

describe.each(sides)("$name over any input", (side) => {
  it(
    "never throws, refuses with a known code, and accepts only frames the encoder writes",
    () => {
      fc.assert(
        fc.property(anyInput, (input) => holds(side, input)),
        params,
      )
    },
    timeout,
  )

  it(
    "keeps within maxMessageBytes and maxDepth, counted as the socket counts them",
    () => {
      const bounds = fc.record({
        maxDepth: fc.integer({ min: 1, max: 8 }),
        maxMessageBytes: fc.integer({ min: 1, max: 64 }),
      })
      fc.assert(
        fc.property(
          fc.oneof(fc.string({ unit: "grapheme" }), shapedFrame, tokenFrame, mutated),
          bounds,
          (input, options) => holds(side, input, options),
        ),
        params,
      )
    },
    timeout,
  )
})

/** Strings of the code units where UTF-8's byte count changes, unpaired surrogates among them. */
const codeUnits = fc
  .array(fc.constantFrom(0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xffff))
  .map((units) => String.fromCharCode(...units))

describe("utf8Length", () => {
  it(
    "counts what Buffer.byteLength counts, lone surrogates included",
    () => {
      fc.assert(
        fc.property(fc.oneof(fc.string({ unit: "binary" }), codeUnits), (s) => {
          expect(utf8Length(s)).toBe(Buffer.byteLength(s))
        }),
        params,
      )
    },
    timeout,
  )
})
