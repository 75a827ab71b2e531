import { type PayloadCodec, stringifyPayload } from "@switchyard/core"

/** The JSON text of `value` through its channel's codec; `undefined` when the value breaks the schema. */
export function encodePayload(codec: PayloadCodec, value: unknown): string | undefined {
  const encoded = codec.encode(value)
  return encoded.ok ? stringifyPayload(encoded.value) : undefined
}
