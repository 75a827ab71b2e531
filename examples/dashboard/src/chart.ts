import type { Sample } from "./contract.ts"

// #region chart
/** How many samples a chart shows: the last 30 s at 250 ms. */
export const SLOTS = 120
/** The charts' drawing size, in SVG units (the page scales them to their box). */
export const WIDTH = 600
export const HEIGHT = 120

/** The three series the page draws, each with its unit and the least top of its scale. */
export const SERIES = [
  { key: "cpu", label: "CPU", unit: "%", floor: 10 },
  { key: "heapMb", label: "Heap", unit: "MiB", floor: 16 },
  { key: "loopMs", label: "Event-loop delay", unit: "ms", floor: 20 },
] as const
export type SeriesKey = (typeof SERIES)[number]["key"]

/** The top of a chart's scale: the largest value shown, rounded up to 1, 2 or 5 × 10ⁿ, at least `floor`. */
export function scaleTop(values: readonly number[], floor: number): number {
  const max = Math.max(floor, ...values)
  const power = 10 ** Math.floor(Math.log10(max))
  const step = [1, 2, 5, 10].find((m) => m * power >= max) ?? 10
  return step * power
}

/**
 * The SVG path of a series: one point per sample, the newest at the right edge, one slot apart, so
 * that the line scrolls left as samples arrive. Plain strings: no chart library in the page bundle.
 */
export function linePath(samples: readonly Sample[], key: SeriesKey, top: number): string {
  const shown = samples.slice(-SLOTS)
  const step = WIDTH / (SLOTS - 1)
  const offset = SLOTS - shown.length
  return shown
    .map((sample, i) => {
      const x = (offset + i) * step
      const y = HEIGHT - (Math.min(sample[key], top) / top) * HEIGHT
      return `${i === 0 ? "M" : "L"}${x.toFixed(1)},${y.toFixed(1)}`
    })
    .join("")
}
// #endregion chart
