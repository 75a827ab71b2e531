// Sizes of a run, from BENCH_* environment variables. BENCH_QUICK=1 picks smoke-run defaults
// (about 60 s for everything); any variable set explicitly wins over both sets of defaults.

/**
 * Adapters in `systems/`, by the id used in BENCH_SYSTEMS and in the tables. `fanout`: the adapter also
 * exports `startFanoutServer` and `connectSubscriber`, and takes part in the topic fan-out measurement.
 */
export const allSystems = [
  { id: "ws", file: "ws.mjs", fanout: true },
  { id: "socketio", file: "socketio.mjs", fanout: true },
  { id: "trpc", file: "trpc.mjs" },
  { id: "trpc-switchyard", file: "trpcSwitchyard.mjs" },
  { id: "trpc-http", file: "trpcHttp.mjs" },
  { id: "switchyard", file: "switchyard.mjs", fanout: true },
  { id: "switchyard-std", file: "switchyardStandard.mjs" },
  { id: "socketio-polling", file: "socketioPolling.mjs", fanout: true },
  { id: "switchyard-long-polling", file: "switchyardLongPolling.mjs", fanout: true },
  { id: "switchyard-sse", file: "switchyardSse.mjs", fanout: true },
  { id: "switchyard-polling", file: "switchyardPolling.mjs", fanout: true },
  { id: "datachannel", file: "datachannel.mjs" },
  { id: "switchyard-webrtc", file: "switchyardWebrtc.mjs" },
]

// Thirteen systems, three measurements, three repetitions: sized to finish in about 9 minutes on 2 cores
// (eleven took 7.5; the two tRPC rows of issue 13 were added since).
const full = {
  REPS: 3,
  LAT_WARMUP: 2000,
  LAT_WARMUP_MAX_S: 1,
  LAT_CALLS: 10000,
  LAT_BLOCK: 100,
  LAT_BLOCK_LEAD: 10,
  LAT_MAX_S: 3,
  INFLIGHT: 100,
  CPU_WARMUP_S: 1,
  CPU_MEASURE_S: 2,
  FANOUT_SUBS: 100,
  FANOUT_WARMUP_S: 1,
  FANOUT_MEASURE_S: 1.5,
  FANOUT_BURST: 100,
  FANOUT_WINDOW: 1000,
}
const quick = {
  REPS: 1,
  LAT_WARMUP: 300,
  LAT_WARMUP_MAX_S: 0.3,
  LAT_CALLS: 3000,
  LAT_BLOCK: 100,
  LAT_BLOCK_LEAD: 10,
  LAT_MAX_S: 0.8,
  INFLIGHT: 100,
  CPU_WARMUP_S: 0.5,
  CPU_MEASURE_S: 1,
  FANOUT_SUBS: 100,
  FANOUT_WARMUP_S: 0.3,
  FANOUT_MEASURE_S: 0.7,
  FANOUT_BURST: 100,
  FANOUT_WINDOW: 1000,
}

export function readConfig(env = process.env) {
  const isQuick = env.BENCH_QUICK === "1"
  const defaults = isQuick ? quick : full
  const num = (key) => {
    const raw = env[`BENCH_${key}`]
    if (raw === undefined || raw === "") return defaults[key]
    const value = Number(raw)
    if (!Number.isFinite(value) || value <= 0) throw new Error(`BENCH_${key} must be a positive number, got ${raw}`)
    return value
  }
  const ids = (env.BENCH_SYSTEMS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
  const unknown = ids.filter((id) => !allSystems.some((s) => s.id === id))
  if (unknown.length)
    throw new Error(`unknown BENCH_SYSTEMS ${unknown.join(", ")}; known: ${allSystems.map((s) => s.id).join(", ")}`)
  return {
    quick: isQuick,
    systems: ids.length ? allSystems.filter((s) => ids.includes(s.id)) : allSystems,
    reps: Math.round(num("REPS")),
    latency: {
      warmup: Math.round(num("LAT_WARMUP")),
      warmupMaxMs: num("LAT_WARMUP_MAX_S") * 1000,
      calls: Math.round(num("LAT_CALLS")),
      block: Math.round(num("LAT_BLOCK")),
      blockLeadIn: Math.round(num("LAT_BLOCK_LEAD")),
      maxMs: num("LAT_MAX_S") * 1000,
    },
    load: {
      inflight: Math.round(num("INFLIGHT")),
      warmupMs: num("CPU_WARMUP_S") * 1000,
      measureMs: num("CPU_MEASURE_S") * 1000,
    },
    fanout: {
      subscribers: Math.round(num("FANOUT_SUBS")),
      warmupMs: num("FANOUT_WARMUP_S") * 1000,
      measureMs: num("FANOUT_MEASURE_S") * 1000,
      burst: Math.round(num("FANOUT_BURST")),
      window: Math.round(num("FANOUT_WINDOW")),
    },
    pin: env.BENCH_PIN !== "0",
    json: env.BENCH_JSON || undefined,
  }
}

/** The command that reproduces this run, BENCH_* variables included. */
export function commandLine(env = process.env) {
  const vars = Object.keys(env)
    .filter((k) => k.startsWith("BENCH_"))
    .sort()
    .map((k) => `${k}=${env[k]}`)
  const cmd = env.npm_lifecycle_event === "bench" ? "pnpm bench" : `node ${process.argv.slice(1).join(" ")}`
  return [...vars, cmd].join(" ")
}
