import type { AnySchema } from "./contract.ts"
import type { StandardSchemaV1 } from "./standardSchema.ts"

/** The outcome of decoding or encoding one payload: a value, or the reason it was refused. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string }

/**
 * How one schema turns wire JSON into application values and back. Effect schemas go through their
 * canonical JSON codec (so `Schema.Date` travels as an ISO string and `Schema.Uint8Array` as base64);
 * Standard Schemas are validated on decode and sent as they are. Neither function ever throws.
 */
export interface PayloadCodec {
  /** JSON value from the wire → validated application value. */
  readonly decode: (json: unknown) => Outcome<unknown>
  /** Application value → JSON value, validated against the schema. */
  readonly encode: (value: unknown) => Outcome<unknown>
}

export const ok = <T>(value: T): Outcome<T> => ({ ok: true, value })
export const fail = (error: string): Outcome<never> => ({ ok: false, error })

/**
 * Builds the codecs of Effect schemas. It lives in `@switchyard/core/effect`, apart from the rest of core,
 * so that an app whose contract uses no Effect schema never loads Effect: register it with
 * `registerEffectCodec`, or let `prepareContract` load it on demand.
 */
export interface EffectCodec {
  /** The codec of one Effect schema (`isEffectSchema(schema)` holds). */
  readonly payloadCodec: (schema: AnySchema) => PayloadCodec
}

/** The key every Effect schema carries, with itself as value (effect's `Schema.isSchema` checks the same). */
const EFFECT_SCHEMA = "~effect/Schema/Schema"

/**
 * Whether `schema` is an Effect schema, told by its shape so that asking loads no Effect code.
 *
 * @example
 * ```ts
 * import { isEffectSchema } from "@switchyard/core"
 * import * as Schema from "effect/Schema"
 * import { z } from "zod"
 *
 * isEffectSchema(Schema.String) // true
 * isEffectSchema(z.string()) // false
 * ```
 */
export function isEffectSchema(schema: unknown): boolean {
  // Effect schemas are functions (a schema can be called as its constructor); Standard Schemas mostly objects.
  if ((typeof schema !== "object" && typeof schema !== "function") || schema === null) return false
  return (schema as Record<string, unknown>)[EFFECT_SCHEMA] === EFFECT_SCHEMA
}

let effectCodec: EffectCodec | undefined

/**
 * Makes Effect schemas usable in contracts, synchronously: a server (or any app that imports Effect
 * anyway) registers the codec of `@switchyard/core/effect` once, before compiling a contract. Registering
 * again replaces it.
 *
 * @example
 * import { registerEffectCodec } from "@switchyard/core"
 * import { effectCodec } from "@switchyard/core/effect"
 * registerEffectCodec(effectCodec)
 */
export function registerEffectCodec(codec: EffectCodec): void {
  effectCodec = codec
}

/** Whether the Effect codec is registered (by `registerEffectCodec` or `prepareContract`). */
export function hasEffectCodec(): boolean {
  return effectCodec !== undefined
}

/**
 * Builds the codec of one payload schema. Schemas that decode asynchronously are refused on use. An
 * Effect schema needs the Effect codec registered first (`prepareContract`, or `registerEffectCodec`);
 * without it this throws a `TypeError` saying so.
 */
export function payloadCodec(schema: AnySchema): PayloadCodec {
  if (isEffectSchema(schema)) {
    if (effectCodec === undefined) {
      throw new TypeError(
        "switchyard: this contract uses Effect schemas, and Effect Schema support is not loaded: " +
          "`await prepareContract(contract)` first, or register it with " +
          '`registerEffectCodec(effectCodec)` from "@switchyard/core/effect"',
      )
    }
    return effectCodec.payloadCodec(schema)
  }
  if (typeof (schema as StandardSchemaV1)["~standard"]?.validate === "function") {
    const standard = schema as StandardSchemaV1
    const validate = standard["~standard"].validate
    const check = (value: unknown, output: "validated" | "original"): Outcome<unknown> =>
      guarded(() => {
        const result = validate(value)
        if (result instanceof Promise) return fail("asynchronous schemas are not supported")
        if (result.issues) return fail(result.issues.map(formatIssue).join("; "))
        return ok(output === "validated" ? result.value : value)
      })
    // Sending validates but sends the value as given: a transforming schema runs once, on receipt.
    return { decode: (value) => check(value, "validated"), encode: (value) => check(value, "original") }
  }
  throw new TypeError("switchyard: a payload schema is an Effect Schema or a Standard Schema")
}

/**
 * Codecs never throw: a value can still make them (a getter that throws, a Proxy, a stack overflow on a
 * cyclic value), and that is an invalid payload, not a crash.
 */
export function guarded(run: () => Outcome<unknown>): Outcome<unknown> {
  try {
    return run()
  } catch (error) {
    return fail(`the value could not be read: ${error instanceof Error ? error.message : String(error)}`)
  }
}

function formatIssue(issue: StandardSchemaV1.Issue): string {
  const path = issue.path?.map((p) => (typeof p === "object" ? String(p.key) : String(p))).join(".")
  return path ? `${issue.message} at ${path}` : issue.message
}
