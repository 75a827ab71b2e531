import { clientBody, isSubscribed, presenceBody, switchyardError } from "@switchyard/core"
import { encodeInput, remoteError } from "./encoding.ts"
import { defaultStreamWindow, maxStreamWindow } from "./options.ts"
import { report } from "./report.ts"
import { closedError, queueFull } from "./wire.ts"

/**
 * What the features loaded on first use (`streams.ts`, `subscriptions.ts`, `presence.ts`) run of core and of this
 * package, handed to them by the runtime. Were they to import any of it themselves, a bundler would move
 * everything they share with the root entry point (most of core) to a third chunk, which every client
 * then loads beside its own (docs/performance.md#bundle-size). So they import types only, and get these
 * values from here.
 */
export const featureKit = {
  body: clientBody,
  presenceBody,
  error: switchyardError,
  closedError,
  queueFull,
  encodeInput,
  remoteError,
  report,
  isSubscribed,
  defaultStreamWindow,
  maxStreamWindow,
}

export type FeatureKit = typeof featureKit
