import type { IncomingMessage } from "node:http"
import { describe, expect, it } from "vitest"
import { ConnectionGate } from "./gate.ts"
import { defaultLimits } from "./limits.ts"
import { HandlerServices } from "./services.ts"
import type { Admission } from "./transport.ts"

const from = (peer: string) => ({ socket: { remoteAddress: peer }, headers: {} }) as unknown as IncomingMessage

type Admitted = Extract<Admission, { ok: true }>

const services = new HandlerServices(undefined, () => {})

async function admitted(gate: ConnectionGate, peer: string): Promise<Admitted> {
  const admission = await gate.admit(from(peer))
  if (!admission.ok) throw new Error(`refused: ${admission.code}`)
  return admission
}

describe("ConnectionGate: maxConnectionsPerIp and lingering connections", () => {
  const gate = () => new ConnectionGate({}, { ...defaultLimits, maxConnectionsPerIp: 2 }, services, () => {})

  it("a lingering connection still counts, and gives way (oldest first) only to a connection the bound would refuse", async () => {
    const g = gate()
    const first = await admitted(g, "192.0.2.1")
    const second = await admitted(g, "192.0.2.1")
    const forgotten: string[] = []
    first.linger(() => {
      forgotten.push("first")
      first.release()
    })
    second.linger(() => {
      forgotten.push("second")
      second.release()
    })
    // Below the bound nothing gives way; another address is not concerned.
    await admitted(g, "192.0.2.2")
    expect(forgotten).toEqual([])
    // At the bound: the oldest lingering one is forgotten for the new connection, then the next.
    const third = await admitted(g, "192.0.2.1")
    expect(forgotten).toEqual(["first"])
    await admitted(g, "192.0.2.1")
    expect(forgotten).toEqual(["first", "second"])
    // Two live connections and none lingering: refused, as before.
    const refused = await g.admit(from("192.0.2.1"))
    expect(refused.ok ? "admitted" : refused.code).toBe("TOO_MANY_CONNECTIONS")
    // A released connection that had lingered is not forgotten again; one that lingers after its release
    // does not linger.
    third.release()
    third.linger(() => forgotten.push("third"))
    await admitted(g, "192.0.2.1")
    const again = await g.admit(from("192.0.2.1"))
    expect(again.ok ? "admitted" : again.code).toBe("TOO_MANY_CONNECTIONS")
    expect(forgotten).toEqual(["first", "second"])
  })

  it("a lingering connection released before it is needed (its last frames collected) leaves no trace", async () => {
    const g = gate()
    const first = await admitted(g, "192.0.2.1")
    first.linger(() => {
      throw new Error("a released connection was forgotten")
    })
    first.release()
    await admitted(g, "192.0.2.1")
    await admitted(g, "192.0.2.1")
    const refused = await g.admit(from("192.0.2.1"))
    expect(refused.ok ? "admitted" : refused.code).toBe("TOO_MANY_CONNECTIONS")
  })
})

describe("ConnectionGate: a refusal by authenticate", () => {
  const refusing = () =>
    new ConnectionGate(
      {
        authenticate: () => {
          throw new Error("no")
        },
      },
      { ...defaultLimits, maxConnectionsPerIp: 1 },
      services,
      () => {},
    )

  it("holds nothing, unless kept (keepRefused): then it holds its place until its release", async () => {
    const g = refusing()
    const plain = await g.admit(from("192.0.2.1"))
    expect(plain).toEqual({ ok: false, code: "UNAUTHORIZED", message: "authentication failed" })
    const kept = await g.admit(from("192.0.2.1"), true)
    expect(kept.ok ? "admitted" : kept.code).toBe("UNAUTHORIZED")
    const past = await g.admit(from("192.0.2.1"), true)
    expect(past.ok ? "admitted" : past.code).toBe("TOO_MANY_CONNECTIONS")
    if (kept.ok) throw new Error("admitted")
    kept.release?.()
    kept.release?.()
    const after = await g.admit(from("192.0.2.1"))
    expect(after.ok ? "admitted" : after.code).toBe("UNAUTHORIZED")
  })
})
