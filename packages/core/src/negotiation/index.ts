/**
 * `@switchyard/core/negotiation`: transport negotiation as pure functions (plan.ts) over what a client
 * remembers (transportMemory.ts). Apart from the root entry point because only a client given several
 * transports runs it, from a chunk it loads on demand: a module that the root entry point reaches would
 * go to a chunk that every client loads (docs/performance.md#bundle-size).
 */
export { fallback, type Plan, type PlanInput, plan } from "./plan.ts"
export {
  emptyMemory,
  hasFailed,
  parseMemory,
  rememberFailure,
  rememberSuccess,
  type TransportMemory,
} from "./transportMemory.ts"
