import type { AnyContract, AnySchema, Delivery } from "./contract.ts"
import { hasEffectCodec, isEffectSchema, type PayloadCodec, payloadCodec, registerEffectCodec } from "./payloadCodec.ts"

/** A contract channel with its codecs built once. */
export interface CompiledRpc {
  readonly kind: "rpc"
  readonly name: string
  readonly input: PayloadCodec
  readonly output: PayloadCodec
  readonly error: PayloadCodec | undefined
}
/** A stream of a compiled contract: its codecs and its delivery. */
export interface CompiledStream {
  readonly kind: "stream"
  readonly name: string
  readonly input: PayloadCodec
  readonly item: PayloadCodec
  readonly error: PayloadCodec | undefined
  readonly delivery: Delivery
}
/** A topic of a compiled contract: its codecs and its delivery. */
export interface CompiledTopic {
  readonly kind: "topic"
  readonly name: string
  readonly message: PayloadCodec
  readonly delivery: Delivery
  /** The codec of its members' data, when the topic declares presence (docs/presence.md). */
  readonly presence: PayloadCodec | undefined
}

/** A peer channel of a compiled contract: the codec of its messages. */
export interface CompiledPeer {
  readonly kind: "peer"
  readonly name: string
  readonly message: PayloadCodec
  readonly delivery: Delivery
}

/** A contract's channels by name, in `Map`s so that names like `__proto__` or `toString` find nothing. */
export interface CompiledContract {
  readonly rpc: ReadonlyMap<string, CompiledRpc>
  readonly streams: ReadonlyMap<string, CompiledStream>
  readonly topics: ReadonlyMap<string, CompiledTopic>
  readonly peers: ReadonlyMap<string, CompiledPeer>
}

const compiled = new WeakMap<AnyContract, CompiledContract>()

/**
 * Compiles a contract's codecs once; later calls return the same object. A contract with Effect schemas
 * needs the Effect codec first (`await prepareContract(contract)`, or `registerEffectCodec`); without it
 * this throws a `TypeError` saying so.
 *
 * @example
 * const compiled = compileContract(Chat)
 * compiled.rpc.get("send")?.input.encode({ text: "hi" })
 */
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
          delivery: deliveryOf(d),
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
          delivery: deliveryOf(d),
          // A definition written before presence may lack the field.
          presence: maybe(d.presence ?? undefined),
        },
      ]),
    ),
    // A contract object made without `contract()` may lack the section.
    peers: new Map(
      Object.entries(contract.peers ?? {}).map(([name, d]) => [
        name,
        // A definition written before peer delivery may lack the field.
        { kind: "peer", name, message: codec(d.message), delivery: deliveryOf(d) },
      ]),
    ),
  }
  compiled.set(contract, out)
  return out
}

/** Every payload schema of a contract, each channel's in declaration order. */
function schemasOf(contract: AnyContract): AnySchema[] {
  const out: AnySchema[] = []
  const add = (schema: AnySchema | undefined) => schema !== undefined && out.push(schema)
  for (const d of Object.values(contract.rpc)) [d.input, d.output, d.error].forEach(add)
  for (const d of Object.values(contract.streams)) [d.input, d.item, d.error].forEach(add)
  for (const d of Object.values(contract.topics)) [d.message, d.presence ?? undefined].forEach(add)
  for (const d of Object.values(contract.peers ?? {})) add(d.message)
  return out
}

/** Whether any payload schema of `contract` is an Effect schema (told by shape: nothing of Effect loads). */
export function usesEffectSchemas(contract: AnyContract): boolean {
  return schemasOf(contract).some(isEffectSchema)
}

/**
 * Gets a contract ready for `compileContract` without carrying Effect in every bundle: when the contract
 * uses Effect schemas and no Effect codec is registered yet, loads `@switchyard/core/effect` (a dynamic
 * import, which bundlers split into a chunk of its own) and registers it. A contract of Standard Schemas
 * loads nothing. Resolves at once when there is nothing to do.
 *
 * @example
 * ```ts
 * import { createClient, websocketTransport } from "@switchyard/client-browser"
 * import { prepareContract } from "@switchyard/core"
 *
 * await prepareContract(Chat) // loads the Effect codec if Chat uses Effect schemas
 * const client = createClient(Chat, { url, transports: [websocketTransport()] })
 * ```
 */
export async function prepareContract(contract: AnyContract): Promise<void> {
  if (hasEffectCodec() || !usesEffectSchemas(contract)) return
  const { effectCodec } = await import("./effectCodec.ts")
  registerEffectCodec(effectCodec)
}

const deliveryOf = (d: { readonly delivery?: Delivery }): Delivery =>
  d.delivery === "unreliable" ? "unreliable" : "reliable"
