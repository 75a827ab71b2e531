/** Nearest-rank percentile of an ascending array (`q` in 0..1). */
export function percentile(sorted, q) {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil(q * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]
}

/** Median, min and max of the finite values; NaN fields when there are none. */
export function summarize(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, count: 0 }
  const mid = v.length >> 1
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
  return { median, min: v[0], max: v[v.length - 1], count: v.length }
}
