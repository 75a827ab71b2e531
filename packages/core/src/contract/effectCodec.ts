/**
 * The codec of Effect schemas: `@switchyard/core/effect`. The only module of core that loads Effect at
 * run time, kept apart so that a contract of Standard Schemas never pulls Effect into a bundle. A server
 * registers it at start (`registerEffectCodec(effectCodec)`); a browser app lets `prepareContract` load
 * it on demand, as a chunk of its own.
 */
import * as Schema from "effect/Schema"
import type { AnySchema } from "./contract.ts"
import { compileFastChecker, MISS } from "./fastSchema.ts"
import type { EffectCodec, Outcome, PayloadCodec } from "./payloadCodec.ts"

// payloadCodec.ts's `ok`, `fail` and `guarded`, repeated: were this chunk to import them at run time, a
// bundler would split payloadCodec.ts into a chunk of its own that every client loads (−0.3 KB gz).
const ok = <T>(value: T): Outcome<T> => ({ ok: true, value })
const fail = (error: string): Outcome<never> => ({ ok: false, error })
function guarded(run: () => Outcome<unknown>): Outcome<unknown> {
  try {
    return run()
  } catch (error) {
    return fail(`the value could not be read: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/**
 * The codec of one Effect schema: its canonical JSON codec (so `Schema.Date` travels as an ISO string and
 * `Schema.Uint8Array` as base64). Neither function ever throws.
 *
 * @example
 * const codec = effectPayloadCodec(Schema.Struct({ at: Schema.Date }))
 * codec.encode({ at: new Date(0) }) // { ok: true, value: { at: "1970-01-01T00:00:00.000Z" } }
 */
export function effectPayloadCodec(schema: AnySchema): PayloadCodec {
  const top = schema as Schema.Top
  const json = Schema.toCodecJson(top) as unknown as Schema.Codec<unknown, unknown>
  const decode = Schema.decodeUnknownResult(json)
  const encode = Schema.encodeUnknownResult(json)
  // Plain schemas take a compiled path that gives Effect's answer without running Effect; anything it
  // cannot vouch for (including every invalid value) still goes through Effect Schema.
  const fast = compileFastChecker(top.ast) ?? (() => MISS)
  return {
    decode: (value) =>
      guarded(() => {
        const r = fast(value)
        return r === MISS ? fromResult(decode(value)) : ok(r)
      }),
    encode: (value) =>
      guarded(() => {
        const r = fast(value)
        return r === MISS ? fromResult(encode(value)) : ok(r)
      }),
  }
}

/**
 * What `registerEffectCodec` takes to make Effect schemas usable in contracts.
 *
 * @example
 * import { registerEffectCodec } from "@switchyard/core"
 * import { effectCodec } from "@switchyard/core/effect"
 * registerEffectCodec(effectCodec)
 */
export const effectCodec: EffectCodec = { payloadCodec: effectPayloadCodec }

type SchemaResult =
  | { readonly _tag: "Success"; readonly success: unknown }
  | { readonly _tag: "Failure"; readonly failure: { readonly message: string } }

function fromResult(result: unknown): Outcome<unknown> {
  const r = result as SchemaResult
  return r._tag === "Success" ? ok(r.success) : fail(r.failure.message)
}
