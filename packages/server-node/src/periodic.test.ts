import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { Periodic } from "./periodic.ts"

/** Every probe made, stopped after each test: the lists are the module's, and outlive a test's fake clock. */
const made: Probe[] = []

/** An entry that records when it ran and can be told what to do when it runs. */
class Probe extends Periodic {
  readonly runs: number[] = []
  onRun: (() => void) | undefined

  constructor(private readonly periodMs: number) {
    super()
    made.push(this)
  }

  start(): void {
    this.startPeriod(this.periodMs)
  }

  stop(): void {
    this.stopPeriod()
  }

  protected onPeriod(): void {
    this.runs.push(performance.now())
    this.onRun?.()
  }
}

describe("Periodic", () => {
  let t0 = 0
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] })
    t0 = performance.now()
  })
  afterEach(() => {
    for (const probe of made.splice(0)) probe.stop()
    vi.useRealTimers()
  })
  const at = (probe: Probe) => probe.runs.map((t) => Math.round(t - t0))

  it("runs each entry every period from its own start, as setInterval does", () => {
    const a = new Probe(100)
    const b = new Probe(100)
    a.start()
    vi.advanceTimersByTime(30)
    b.start()
    vi.advanceTimersByTime(300)
    expect(at(a)).toEqual([100, 200, 300])
    expect(at(b)).toEqual([130, 230, 330])
  })

  it("serves the entries of one period with one timer", () => {
    const probes = Array.from({ length: 1000 }, () => new Probe(50))
    for (const probe of probes) probe.start()
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(100)
    for (const probe of probes) expect(at(probe)).toEqual([50, 100])
    new Probe(70).start()
    expect(vi.getTimerCount()).toBe(2)
  })

  it("a stopped entry no longer runs, and a period without entries holds no timer", () => {
    const a = new Probe(100)
    const b = new Probe(100)
    a.start()
    b.start()
    vi.advanceTimersByTime(150)
    a.stop()
    vi.advanceTimersByTime(200)
    expect(at(a)).toEqual([100])
    expect(at(b)).toEqual([100, 200, 300])
    b.stop()
    expect(vi.getTimerCount()).toBe(0)
  })

  it("a restart counts the period from the restart", () => {
    const a = new Probe(100)
    a.start()
    vi.advanceTimersByTime(80)
    a.start()
    vi.advanceTimersByTime(200)
    expect(at(a)).toEqual([180, 280])
  })

  it("an entry may stop or restart itself, or start another, while it runs", () => {
    const once = new Probe(100)
    once.onRun = () => once.stop()
    const restarted = new Probe(100)
    restarted.onRun = () => {
      if (restarted.runs.length === 1) restarted.start()
    }
    const late = new Probe(100)
    const starter = new Probe(100)
    starter.onRun = () => {
      starter.stop()
      late.start()
    }
    once.start()
    restarted.start()
    starter.start()
    vi.advanceTimersByTime(400)
    expect(at(once)).toEqual([100])
    expect(at(restarted)).toEqual([100, 200, 300, 400])
    expect(at(starter)).toEqual([100])
    expect(at(late)).toEqual([200, 300, 400])
  })

  it("a list emptied while it runs does not drop the list that a new entry of its period made", () => {
    const a = new Probe(100)
    const b = new Probe(100)
    a.onRun = () => {
      a.stop()
      b.start()
    }
    a.start()
    vi.advanceTimersByTime(100)
    vi.advanceTimersByTime(250)
    expect(at(b)).toEqual([200, 300])
    // b is still served: another entry of the period joins b's list and its one timer.
    new Probe(100).start()
    expect(vi.getTimerCount()).toBe(1)
  })
})
