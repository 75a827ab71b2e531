import { monitorEventLoopDelay } from "node:perf_hooks"
import type { Sample } from "./contract.ts"

/** What one reading measures; the sampler adds `run`, `seq` and `at`. */
export type Reading = Pick<Sample, "cpu" | "heapMb" | "loopMs">

export interface SamplerOptions {
  /** How often a sample is taken. Default 250 ms. */
  readonly intervalMs?: number | undefined
  /** How many recent samples are kept for pages that (re)start the stream. Default 240 (a minute at 250 ms). */
  readonly keep?: number
}

// #region sampler
/**
 * Samples this process every `intervalMs` and keeps the last `keep` samples. Streams read from it
 * (`follow`) rather than each running a timer of its own: every page sees the same numbers, and a page
 * that starts late, or comes back with a new session, gets what it missed from the kept samples.
 */
export class Sampler {
  /** This run of the server; a page that saw another run starts over. */
  readonly run = Math.random().toString(36).slice(2, 10)
  private readonly samples: Sample[] = []
  private readonly waiting = new Set<() => void>()
  private readonly timer: NodeJS.Timeout
  private readonly keep: number

  constructor(options: SamplerOptions = {}) {
    this.keep = options.keep ?? 240
    const read = processReader()
    let seq = 0
    this.timer = setInterval(() => {
      this.samples.push({ run: this.run, seq: ++seq, at: Date.now(), ...read() })
      if (this.samples.length > this.keep) this.samples.shift()
      for (const wake of this.waiting) wake()
      this.waiting.clear()
    }, options.intervalMs ?? 250)
    // The sampler alone does not keep the process alive; the HTTP server does.
    this.timer.unref()
  }

  /** The samples kept, oldest first. */
  recent(): readonly Sample[] {
    return this.samples
  }

  /**
   * The kept samples after `after`, then each new one, until `signal` aborts. A `run` other than this
   * one (a page that saw an earlier run of the server, or none) gets every kept sample.
   */
  async *follow(run: string, after: number, signal: AbortSignal): AsyncGenerator<Sample> {
    let last = run === this.run ? after : 0
    while (!signal.aborted) {
      for (const sample of this.samples) {
        if (sample.seq <= last) continue
        last = sample.seq
        // Waits here while the page has no credit (it reads at its own pace, docs/sessions.md).
        yield sample
      }
      await this.next(signal)
    }
  }

  /** Resolves when the next sample is taken, or when `signal` aborts. */
  private next(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        signal.removeEventListener("abort", wake)
        this.waiting.delete(wake)
        resolve()
      }
      this.waiting.add(wake)
      signal.addEventListener("abort", wake, { once: true })
    })
  }

  close(): void {
    clearInterval(this.timer)
  }
}
// #endregion sampler

// #region reading
/** Reads the process: CPU used since the last reading, the heap, and the event loop's worst delay. */
function processReader(): () => Reading {
  const resolutionMs = 10
  const loop = monitorEventLoopDelay({ resolution: resolutionMs })
  loop.enable()
  let cpu = process.cpuUsage()
  let wall = process.hrtime.bigint()
  return () => {
    const used = process.cpuUsage(cpu)
    const now = process.hrtime.bigint()
    const elapsedUs = Number(now - wall) / 1000
    cpu = process.cpuUsage()
    wall = now
    // The histogram holds, in ns, the gaps between the loop's checks (one every `resolutionMs`) since the
    // last reset; an idle loop reads about `resolutionMs`, so that is taken off: idle reads ~0, and a
    // handler that blocks for 50 ms reads 40–50.
    const loopMs = loop.count > 0 ? Math.max(0, loop.max / 1e6 - resolutionMs) : 0
    loop.reset()
    return {
      cpu: round((100 * (used.user + used.system)) / elapsedUs),
      heapMb: round(process.memoryUsage().heapUsed / 2 ** 20),
      loopMs: round(loopMs),
    }
  }
}
// #endregion reading

function round(n: number): number {
  return Math.round(n * 100) / 100
}
