import { setTimeout as pause } from "node:timers/promises"
import { waitFor } from "@switchyard/core/testing"
import type { NodeBus, NodeMessage } from "@switchyard/server-node"
import { afterEach, describe, expect, it } from "vitest"

/** What the node bus suite needs of one implementation: a fresh cluster per test. */
export interface NodeBusHarness {
  /** A new node of this cluster, not started; `id` to start one under the id of a node killed before. */
  node(id?: string): NodeBus
  /** Kills `node` as SIGKILL would: no goodbye, its connections gone. */
  kill(node: NodeBus): Promise<void>
  /** Within this a killed node is gone for the others (the implementation's documented bound). */
  readonly deathBoundMs: number
  /**
   * Stops the engine for longer than a node's TTL, runs `during` meanwhile, starts it again with nothing
   * kept, and resolves once every node is connected again. Absent: the engine cannot fail (memory).
   */
  restart?(during: () => void): Promise<void>
  /** Ends what the cluster holds. */
  close(): Promise<void>
}

/** One thing a node heard, in the order it heard it. */
type Heard = { readonly from: string; readonly message: NodeMessage } | { readonly gone: string }

/** A started node and what it heard. */
class Listening {
  readonly log: Heard[] = []
  readonly #bySender = new Map<string, NodeMessage[]>()
  readonly #waiters = new Set<() => void>()

  constructor(readonly bus: NodeBus) {}

  async start(): Promise<this> {
    this.bus.onNodeGone((gone) => this.#push({ gone }))
    await this.bus.start((from, message) => this.#push({ from, message }))
    return this
  }

  get id(): string {
    return this.bus.nodeId
  }

  /** The messages from `from`. */
  from(from: string): readonly NodeMessage[] {
    return this.#bySender.get(from) ?? []
  }

  /** The nodes it was told gone, in order. */
  get gone(): string[] {
    return this.log.flatMap((h) => ("gone" in h ? [h.gone] : []))
  }

  /** Resolves once `predicate` holds after something was heard; rejects after `ms`. */
  until(predicate: () => boolean, ms: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return
        clearTimeout(timer)
        this.#waiters.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(new Error(`${this.id}: ${what} not within ${ms} ms`))
      }, ms)
      this.#waiters.add(check)
    })
  }

  #push(heard: Heard): void {
    this.log.push(heard)
    if ("from" in heard) {
      const list = this.#bySender.get(heard.from) ?? []
      list.push(heard.message)
      this.#bySender.set(heard.from, list)
    }
    for (const check of [...this.#waiters]) check()
  }
}

/**
 * The node bus contract (`NodeBus` in server-node's broker/nodeBus.ts), run against every
 * implementation with one line, as the transport contract suite is: messages once and in order per
 * sender→receiver, the session directory, a node that leaves and one that dies, and an engine restart.
 */
export function runNodeBusSuite(
  name: string,
  makeHarness: () => Promise<NodeBusHarness>,
  /** `engine`: the bus has an engine that can fail and restart (Redis), tested then. */
  options: { readonly engine: boolean },
): void {
  describe(`NodeBus: ${name}`, () => {
    let harness: NodeBusHarness | undefined
    afterEach(async () => {
      await harness?.close()
      harness = undefined
    })

    /** `count` started nodes of a fresh cluster, each seeing the others alive. */
    async function cluster(count: number): Promise<Listening[]> {
      harness = await makeHarness()
      const h = harness
      const nodes = await Promise.all(Array.from({ length: count }, () => new Listening(h.node()).start()))
      await waitFor(
        () => nodes.every((n) => nodes.every((m) => n.bus.alive(m.id))),
        5000,
        "every node alive for every other",
      )
      return nodes
    }

    it("delivers messages once and in order between three nodes, bursts of thousands included", async () => {
      const nodes = await cluster(3)
      const burst = 3000
      for (const sender of nodes) {
        for (const receiver of nodes) {
          if (receiver === sender) continue
          for (let i = 0; i < burst; i++) sender.bus.send(receiver.id, { t: "n", i, pad: "x".repeat(i % 64) })
        }
      }
      for (const receiver of nodes) {
        const senders = nodes.filter((n) => n !== receiver)
        await receiver.until(() => senders.every((s) => receiver.from(s.id).length >= burst), 10_000, "every message")
        for (const sender of senders) {
          expect(receiver.from(sender.id).map((m) => m.i)).toEqual(Array.from({ length: burst }, (_, i) => i))
        }
        expect(receiver.gone).toEqual([])
      }
    })

    it("records, looks up and releases session owners; a release by a former owner does nothing", async () => {
      const [a, b] = (await cluster(2)) as [Listening, Listening]
      expect(await a.bus.lookup("k1")).toBeUndefined()
      await a.bus.claim("k1")
      expect(await b.bus.lookup("k1")).toBe(a.id)
      // A take-over: b claims the key a held; a's late release must not erase b's claim.
      await b.bus.claim("k1")
      expect(await a.bus.lookup("k1")).toBe(b.id)
      await a.bus.release("k1")
      expect(await a.bus.lookup("k1")).toBe(b.id)
      await b.bus.release("k1")
      expect(await a.bus.lookup("k1")).toBeUndefined()
      await b.bus.claim("k2")
      expect(await a.bus.lookup("k2")).toBe(b.id)
    })

    it("a node that closes is gone for the others at once, after the messages it sent", async () => {
      const [a, b, c] = (await cluster(3)) as [Listening, Listening, Listening]
      for (let i = 0; i < 50; i++) c.bus.send(a.id, { t: "n", i })
      const started = performance.now()
      await c.bus.close()
      await Promise.all([a, b].map((n) => n.until(() => n.gone.includes(c.id), 1000, "c gone")))
      expect(performance.now() - started).toBeLessThan(500)
      // Every message c sent came before the news that it left.
      const last = a.log.findIndex((h) => "gone" in h)
      expect(a.log.slice(0, last).filter((h) => "from" in h && h.from === c.id)).toHaveLength(50)
      expect(a.bus.alive(c.id)).toBe(false)
      expect(b.bus.alive(c.id)).toBe(false)
      expect(a.bus.alive(b.id)).toBe(true)
      // A message to a node gone is dropped, without an error; the others still talk.
      a.bus.send(c.id, { t: "late" })
      a.bus.send(b.id, { t: "still" })
      await b.until(() => b.from(a.id).length === 1, 2000, "a's message")
      expect(a.gone).toEqual([c.id])
    })

    it("a node killed without a goodbye is declared gone within the bound", async () => {
      const [a, b, c] = (await cluster(3)) as [Listening, Listening, Listening]
      const h = harness as NodeBusHarness
      const killed = performance.now()
      await h.kill(c.bus)
      // The bound plus a margin for a busy machine (the suite's timers and the round trip).
      const within = h.deathBoundMs + 1000
      await Promise.all([a, b].map((n) => n.until(() => n.gone.includes(c.id), within, "c declared gone")))
      expect(performance.now() - killed).toBeLessThan(within)
      expect([a.bus.alive(c.id), b.bus.alive(c.id), a.bus.alive(b.id)]).toEqual([false, false, true])
      expect([a.gone, b.gone]).toEqual([[c.id], [c.id]])
    })

    it("a node restarted under the same id is a new node: the others hear the old one gone, then all it sends", async () => {
      const [a, b] = (await cluster(2)) as [Listening, Listening]
      const h = harness as NodeBusHarness
      for (let i = 0; i < 5; i++) a.bus.send(b.id, { t: "old", i })
      await b.until(() => b.from(a.id).length === 5, 3000, "the old process's messages")
      // As a process killed and started again at once, well within the liveness TTL.
      await h.kill(a.bus)
      const again = await new Listening(h.node(a.id)).start()
      await waitFor(() => again.bus.alive(b.id), 3000, "the new process sees b")
      for (let i = 0; i < 3; i++) again.bus.send(b.id, { t: "new", i })
      await b.until(() => b.from(a.id).length === 8, 3000, "the new process's messages")
      expect(b.from(a.id).map((m) => `${m.t}${m.i}`)).toEqual([
        "old0",
        "old1",
        "old2",
        "old3",
        "old4",
        "new0",
        "new1",
        "new2",
      ])
      // The old process is gone for b (what was in flight with it is settled), once, before the new one's messages.
      expect(b.gone).toEqual([a.id])
      expect(b.log.findIndex((heard) => "gone" in heard)).toBe(5)
      expect(b.bus.alive(a.id)).toBe(true)
    })

    // Only where there is an engine to restart: the memory bus has none (no test that cannot fail).
    if (options.engine)
      it("after the engine restarts, nodes announce themselves again and talk; none is declared dead", async () => {
        const [a, b, c] = (await cluster(3)) as [Listening, Listening, Listening]
        const h = harness as NodeBusHarness
        if (!h.restart) throw new Error("this harness has no engine to restart")
        await a.bus.claim("k")
        // Sent while the engine is down: dropped, and a tells b once the engine is back.
        await h.restart(() => a.bus.send(b.id, { t: "lost" }))
        for (const n of [a, b, c]) for (const m of [a, b, c]) expect(n.bus.alive(m.id)).toBe(true)
        a.bus.send(b.id, { t: "after" })
        b.bus.send(c.id, { t: "after" })
        c.bus.send(a.id, { t: "after" })
        await Promise.all([
          b.until(() => b.from(a.id).length === 1, 3000, "a's message"),
          c.until(() => c.from(b.id).length === 1, 3000, "b's message"),
          a.until(() => a.from(c.id).length === 1, 3000, "c's message"),
        ])
        expect(b.from(a.id)).toEqual([{ t: "after" }])
        // The lost message is told as a gone on both sides (what was in flight between a and b ends);
        // nobody else is.
        expect([a.gone, b.gone, c.gone]).toEqual([[b.id], [a.id], []])
        // The directory entry a owned is written back by a (Redis kept nothing) after its first heartbeat.
        const deadline = performance.now() + 3000
        while ((await b.bus.lookup("k")) !== a.id && performance.now() < deadline) await pause(20)
        expect(await b.bus.lookup("k")).toBe(a.id)
      })

    if (options.engine)
      it("a message lost with nothing after it is told on both sides once the engine is back", async () => {
        const [a, b, c] = (await cluster(3)) as [Listening, Listening, Listening]
        const h = harness as NodeBusHarness
        if (!h.restart) throw new Error("this harness has no engine to restart")
        // A ghost's last RESULT, say: nothing follows it, so no later message shows b the gap.
        await h.restart(() => a.bus.send(b.id, { t: "last" }))
        await Promise.all([
          a.until(() => a.gone.includes(b.id), 3000, "b gone for a"),
          b.until(() => b.gone.includes(a.id), 3000, "a gone for b"),
        ])
        expect([a.gone, b.gone, c.gone]).toEqual([[b.id], [a.id], []])
        expect(b.from(a.id)).toEqual([])
        // Both still talk afterwards.
        a.bus.send(b.id, { t: "next" })
        await b.until(() => b.from(a.id).length === 1, 3000, "a's next message")
        expect(b.gone).toEqual([a.id])
      })
  })
}
