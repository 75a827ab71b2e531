import {
  clientBody,
  clientControl,
  decodeServerFrameWith,
  FrameType,
  isTransportId,
  switchyardError,
  unref,
} from "@switchyard/core"
import { linkEvents } from "./connectionEvents.ts"

/**
 * What `upgrades.ts` and `credentials.ts` run of core and of this package, handed to it by the connection. `upgrades.ts` is
 * loaded with `import()` only by a client given several transports; were it to import any of this
 * itself, a bundler would move all the code the two share (most of core) to a third chunk, which every
 * client then loads beside its own, a larger total (docs/performance.md#bundle-size). So it imports types
 * only, and gets these values from here.
 */
export const negotiationKit = {
  body: clientBody,
  control: clientControl,
  decode: decodeServerFrameWith,
  error: switchyardError,
  isTransportId,
  linkEvents,
  PROBE: FrameType.PROBE,
  SIGNAL: FrameType.SIGNAL,
  unref,
}

export type NegotiationKit = typeof negotiationKit
