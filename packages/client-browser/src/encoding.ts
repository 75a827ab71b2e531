import {
  isErrorCode,
  type PayloadCodec,
  type SwitchyardError,
  stringifyPayload,
  switchyardError,
} from "@switchyard/core"

/** Validates and stringifies an outgoing payload once; a string, or the error to reject with. */
export function encodeInput(codec: PayloadCodec, input: unknown, channel: string): string | SwitchyardError {
  const encoded = codec.encode(input)
  if (!encoded.ok) return switchyardError("INVALID_INPUT", `${channel}: ${encoded.error}`)
  const json = stringifyPayload(encoded.value)
  return json ?? switchyardError("INVALID_INPUT", `${channel}: the input cannot be serialised as JSON`)
}

/** The error a call rejects with, its declared `data` decoded when the code is `FAILURE`. */
export function remoteError(
  code: string,
  message: string,
  data: unknown,
  codec: PayloadCodec | undefined,
): SwitchyardError {
  const known = isErrorCode(code) ? code : "INTERNAL_ERROR"
  if (known !== "FAILURE") return switchyardError(known, message)
  const decoded = codec?.decode(data)
  if (!decoded?.ok) return switchyardError("INVALID_OUTPUT", `the server sent an undeclared failure: ${message}`)
  return switchyardError("FAILURE", message, { data: decoded.value })
}
