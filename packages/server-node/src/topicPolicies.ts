import type { CompiledContract } from "@switchyard/core"
import type { AnyPolicy } from "./runtime.ts"

/**
 * The topic policies by topic, checked: every topic that declares presence has its `presence` hook
 * (the types require it; this catches an app written without them).
 */
export function presenceHooksOf(compiled: CompiledContract, policies: object | undefined): Map<string, AnyPolicy> {
  const out = new Map(Object.entries((policies ?? {}) as Record<string, AnyPolicy>))
  for (const channel of compiled.topics.values()) {
    if (channel.presence && typeof out.get(channel.name)?.presence !== "function") {
      throw new TypeError(`switchyard: missing presence hook topics.${channel.name}.presence`)
    }
  }
  return out
}
