import * as Schema from "effect/Schema"
import type { AnyContract, AnySchema, Delivery } from "./contract.ts"
import { compileFastChecker, MISS } from "./fastSchema.ts"
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

const ok = <T>(value: T): Outcome<T> => ({ ok: true, value })
const fail = (error: string): Outcome<never> => ({ ok: false, error })

function isStandard(schema: AnySchema): schema is StandardSchemaV1 {
  return !Schema.isSchema(schema) && typeof (schema as StandardSchemaV1)["~standard"]?.validate === "function"
}

/** Builds the codec of one payload schema. Schemas that decode asynchronously are refused on use. */
export function payloadCodec(schema: AnySchema): PayloadCodec {
  if (isStandard(schema)) {
    const validate = schema["~standard"].validate
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
  const json = Schema.toCodecJson(schema as Schema.Top) as unknown as Schema.Codec<unknown, unknown>
  const decode = Schema.decodeUnknownResult(json)
  const encode = Schema.encodeUnknownResult(json)
  // Plain schemas take a compiled path that gives Effect's answer without running Effect; anything it
  // cannot vouch for (including every invalid value) still goes through Effect Schema.
  const fast = compileFastChecker((schema as Schema.Top).ast) ?? (() => MISS)
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
 * Codecs never throw: a value can still make them (a getter that throws, a Proxy, a stack overflow on a
 * cyclic value), and that is an invalid payload, not a crash.
 */
function guarded(run: () => Outcome<unknown>): Outcome<unknown> {
  try {
    return run()
  } catch (error) {
    return fail(`the value could not be read: ${error instanceof Error ? error.message : String(error)}`)
  }
}

type SchemaResult =
  | { readonly _tag: "Success"; readonly success: unknown }
  | { readonly _tag: "Failure"; readonly failure: { readonly message: string } }

function fromResult(result: unknown): Outcome<unknown> {
  const r = result as SchemaResult
  return r._tag === "Success" ? ok(r.success) : fail(r.failure.message)
}

function formatIssue(issue: StandardSchemaV1.Issue): string {
  const path = issue.path?.map((p) => (typeof p === "object" ? String(p.key) : String(p))).join(".")
  return path ? `${issue.message} at ${path}` : issue.message
}

/** A contract channel with its codecs built once. */
export interface CompiledRpc {
  readonly kind: "rpc"
  readonly name: string
  readonly input: PayloadCodec
  readonly output: PayloadCodec
  readonly error: PayloadCodec | undefined
}
export interface CompiledStream {
  readonly kind: "stream"
  readonly name: string
  readonly input: PayloadCodec
  readonly item: PayloadCodec
  readonly error: PayloadCodec | undefined
  readonly delivery: Delivery
}
export interface CompiledTopic {
  readonly kind: "topic"
  readonly name: string
  readonly message: PayloadCodec
  readonly delivery: Delivery
}

export interface CompiledPeer {
  readonly kind: "peer"
  readonly name: string
  readonly message: PayloadCodec
}

/** A contract's channels by name, in `Map`s so that names like `__proto__` or `toString` find nothing. */
export interface CompiledContract {
  readonly rpc: ReadonlyMap<string, CompiledRpc>
  readonly streams: ReadonlyMap<string, CompiledStream>
  readonly topics: ReadonlyMap<string, CompiledTopic>
  readonly peers: ReadonlyMap<string, CompiledPeer>
}

const compiled = new WeakMap<AnyContract, CompiledContract>()

/** Compiles a contract's codecs once; later calls return the same object. */
export function compileContract(contract: AnyContract): CompiledContract {
  let out = compiled.get(contract)
  if (out) return out
  const codecs = new Map<AnySchema, PayloadCodec>()
  const codec = (schema: AnySchema): PayloadCodec => {
    let c = codecs.get(schema)
    if (!c) {
      c = payloadCodec(schema)
      codecs.set(schema, c)
    }
    return c
  }
  const maybe = (schema: AnySchema | undefined) => (schema === undefined ? undefined : codec(schema))
  out = {
    rpc: new Map(
      Object.entries(contract.rpc).map(([name, d]) => [
        name,
        { kind: "rpc", name, input: codec(d.input), output: codec(d.output), error: maybe(d.error) },
      ]),
    ),
    streams: new Map(
      Object.entries(contract.streams).map(([name, d]) => [
        name,
        {
          kind: "stream",
          name,
          input: codec(d.input),
          item: codec(d.item),
          error: maybe(d.error),
          delivery: d.delivery === "unreliable" ? "unreliable" : "reliable",
        },
      ]),
    ),
    topics: new Map(
      Object.entries(contract.topics).map(([name, d]) => [
        name,
        {
          kind: "topic",
          name,
          message: codec(d.message),
          delivery: d.delivery === "unreliable" ? "unreliable" : "reliable",
        },
      ]),
    ),
    // A contract object made without `contract()` may lack the section.
    peers: new Map(
      Object.entries(contract.peers ?? {}).map(([name, d]) => [
        name,
        { kind: "peer", name, message: codec(d.message) },
      ]),
    ),
  }
  compiled.set(contract, out)
  return out
}
