import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { effectCodec } from "./effectCodec.ts"
import { compileFastChecker, MISS } from "./fastSchema.ts"
import { payloadCodec, registerEffectCodec } from "./payloadCodec.ts"

registerEffectCodec(effectCodec)

/** Effect Schema alone, the reference the fast path must agree with. */
function reference(schema: Schema.Top) {
  const json = Schema.toCodecJson(schema) as unknown as Schema.Codec<unknown, unknown>
  const run = (r: unknown) => {
    const result = r as { _tag: string; success?: unknown; failure?: { message: string } }
    return result._tag === "Success"
      ? { ok: true, value: result.success }
      : { ok: false, error: result.failure?.message }
  }
  return {
    decode: (v: unknown) => run(Schema.decodeUnknownResult(json)(v)),
    encode: (v: unknown) => run(Schema.encodeUnknownResult(json)(v)),
  }
}

const Inner = Schema.Struct({ k: Schema.String })
const plain: Array<[string, Schema.Top]> = [
  ["String", Schema.String],
  ["Number", Schema.Number],
  ["Boolean", Schema.Boolean],
  ["Literal", Schema.Literal("x")],
  ["numeric Literal", Schema.Literal(3)],
  ["Unknown", Schema.Unknown],
  ["Array", Schema.Array(Schema.Number)],
  [
    "Struct",
    Schema.Struct({
      n: Schema.Number,
      s: Schema.String,
      b: Schema.Boolean,
      l: Schema.Literal("x"),
      arr: Schema.Array(Inner),
      o: Inner,
    }),
  ],
  ["Struct with Unknown", Schema.Struct({ u: Schema.Unknown })],
]
const values: unknown[] = [
  "a",
  "",
  0,
  -1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  "NaN",
  "Infinity",
  true,
  false,
  null,
  undefined,
  "x",
  3,
  [],
  [1, 2, 3],
  [1, "2"],
  [{ k: "v" }, { k: "w", extra: 1 }],
  {},
  { k: "v" },
  { k: 1 },
  { u: undefined },
  { u: { deep: [1] } },
  { n: 1, s: "a", b: true, l: "x", arr: [{ k: "v" }], o: { k: "v", extra: 2 }, extra: 3 },
  { n: Number.NaN, s: "a", b: true, l: "x", arr: [], o: { k: "v" } },
  { n: 1, s: "a", b: true, l: "y", arr: [], o: { k: "v" } },
  { n: 1, s: "a", b: true, l: "x", arr: [], o: null },
  Object.create({ k: "inherited" }),
  new Date(0),
  { u: [1, { a: null, b: [true, "s"] }] },
  { u: [1, { a: Number.POSITIVE_INFINITY }] },
  { u: new Map() },
  { u: Object.create(null) },
  {
    u: Object.assign([new Date(0)], {
      [Symbol.iterator]: function* () {
        yield 1
      },
    }),
  },
  JSON.parse('{"__proto__":{"k":"v"},"k":"w"}'),
  // biome-ignore lint/suspicious/noSparseArray: a sparse array is one of the cases under test
  [1, , 3],
  -0,
  {
    get k() {
      throw new Error("getter")
    },
  },
]

describe("compileFastChecker", () => {
  it.each(plain)(
    "agrees with Effect Schema on every value, both ways, and answers itself for valid ones: %s",
    (_name, schema) => {
      const codec = payloadCodec(schema)
      const ref = reference(schema)
      const fast = compileFastChecker(schema.ast)
      expect(fast).toBeDefined()
      let answered = 0
      for (const value of values) {
        let expected: unknown
        try {
          expected = ref.decode(value)
        } catch {
          // Effect itself throws on a throwing getter; the codec must refuse instead.
          expect(codec.decode(value).ok).toBe(false)
          continue
        }
        expect(codec.decode(value), `decode ${String(value)}`).toEqual(expected)
        expect(codec.encode(value), `encode ${String(value)}`).toEqual(ref.encode(value))
        let verdict: unknown
        try {
          verdict = fast?.(value)
        } catch {
          verdict = MISS
        }
        if (verdict !== MISS) answered++
      }
      // The fast path is taken (not just falling back to Effect every time).
      expect(answered).toBeGreaterThan(0)
    },
  )

  it("declines schemas with checks, transformations, optional keys or records", () => {
    for (const schema of [
      Schema.Number.check(Schema.isGreaterThan(0)),
      Schema.Date,
      Schema.Uint8Array,
      Schema.Struct({ a: Schema.optional(Schema.String) }),
      Schema.Record(Schema.String, Schema.Number),
      Schema.Struct({ a: Schema.Number.check(Schema.isInt()) }),
      Schema.Array(Schema.Date),
      Schema.Union([Schema.String, Schema.Number]),
      Schema.Struct({}),
      Schema.Struct({ __proto__: Schema.String }),
    ] as Schema.Top[]) {
      expect(compileFastChecker(schema.ast)).toBeUndefined()
    }
  })

  it("misses, never guesses, on what it cannot vouch for", () => {
    const check = compileFastChecker(Schema.Struct({ n: Schema.Number }).ast)
    expect(check?.({ n: Number.NaN })).toBe(MISS)
    expect(check?.({})).toBe(MISS)
    expect(check?.([1])).toBe(MISS)
    expect(check?.({ n: 2, x: 1 })).toEqual({ n: 2 })
  })

  it("never throws: a value that throws while read is an invalid payload", () => {
    const codec = payloadCodec(Schema.Struct({ n: Schema.Number }))
    const hostile = {
      get n(): number {
        throw new Error("getter boom")
      },
    }
    expect(codec.encode(hostile)).toMatchObject({ ok: false })
    expect(codec.decode(hostile)).toMatchObject({ ok: false })
  })
})
