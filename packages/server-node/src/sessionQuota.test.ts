import { describe, expect, it } from "vitest"
import { defaultLimits } from "./limits.ts"
import { SessionQuota } from "./sessionQuota.ts"

describe("SessionQuota", () => {
  it("counts sessions per address key and per identity, and forgets them on release", () => {
    const quota = new SessionQuota({ ...defaultLimits, maxSessionsPerIp: 2, maxSessionsPerIdentity: 1 })
    const a = {}
    const b = {}
    expect(quota.admit("2001:db8::1", undefined)).toBeUndefined()
    quota.hold(a, "2001:db8::1", "alice")
    expect(quota.admit("2001:db8::2", "alice")?.code).toBe("TOO_MANY_SESSIONS")
    expect(quota.admit("2001:db8::2", "bob")).toBeUndefined()
    quota.hold(b, "2001:db8::2", "bob")
    // Both addresses are in one /64.
    expect(quota.heldBy("2001:db8::ffff")).toBe(2)
    expect(quota.admit("2001:db8::3", undefined)?.code).toBe("TOO_MANY_SESSIONS")
    expect(quota.admit("2001:db8:0:1::3", undefined)).toBeUndefined()
    quota.release(a)
    quota.release(a)
    expect(quota.heldBy("2001:db8::1")).toBe(1)
    expect(quota.admit("2001:db8::3", "alice")).toBeUndefined()
  })

  it("spends a new-session token only for a session it admits, and counts nothing for links with no IP address", () => {
    const quota = new SessionQuota({ ...defaultLimits, newSessionBurstPerIp: 2, newSessionsPerSecondPerIp: 0.001 })
    expect(quota.admit("192.0.2.1", undefined)).toBeUndefined()
    expect(quota.admit("192.0.2.1", undefined)).toBeUndefined()
    expect(quota.admit("192.0.2.1", undefined)?.code).toBe("RATE_LIMITED")
    expect(quota.admit("192.0.2.1", undefined)?.code).toBe("RATE_LIMITED")
    expect(quota.admit("192.0.2.2", undefined)).toBeUndefined()
    for (let i = 0; i < 10; i++) expect(quota.admit("memory", undefined)).toBeUndefined()
    quota.hold({}, "memory", undefined)
    expect(quota.heldBy("memory")).toBe(0)
  })

  it("sweeps the buckets of addresses that have filled up again", () => {
    const quota = new SessionQuota({ ...defaultLimits, newSessionBurstPerIp: 1, newSessionsPerSecondPerIp: 1e9 })
    for (let i = 0; i < 5000; i++) quota.admit(`10.0.${i >> 8}.${i & 255}`, undefined)
    const arrivals = (quota as unknown as { arrivals: Map<string, unknown> }).arrivals
    expect(arrivals.size).toBeLessThan(2100)
  })
})
