#!/usr/bin/env node
// Bundle sizes of the client against their budgets, beside socket.io-client, @trpc/client and
// @microsoft/signalr measured the same way: each entry of size/entries is bundled by esbuild (minified,
// ESM, platform browser, workspace packages from source) and gzipped at level 9. Prints a table and exits
// non-zero when an entry is over its budget. Bundles are split as a bundler splits them for a page: a
// chunk loaded by `import()` counts only for entries whose contract makes the client load it (`lazy`), so
// code a client loads on demand (Effect Schema codecs) is not charged to the clients that never load it.
// The column "without effect" is the same bundle with `effect` left out: Switchyard's own share.
// KB = 1024 bytes.
//
//   node scripts/size.mjs             the table
//   node scripts/size.mjs --analyze   and, per Switchyard entry, the inputs that weigh most
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { gzipSync } from "node:zlib"

const root = new URL("..", import.meta.url).pathname
// esbuild and the libraries compared are dependencies of the private `size` workspace package.
const require = createRequire(join(root, "size/package.json"))
const { build } = require("esbuild")

const KB = 1024

/**
 * Each entry: what it measures, its budget in gzipped bytes (none for the comparisons), and whether the
 * chunks it loads on demand count (`lazy`: the contract makes the client load them at start).
 */
const entries = [
  { file: "websocket.ts", what: "Switchyard: Standard Schema contract, WebSocket only", budget: 8 * KB },
  {
    file: "all-http.ts",
    what: "Switchyard: Standard Schema contract, the four non-WebRTC transports",
    budget: 11 * KB,
  },
  {
    file: "effect-defaults.ts",
    what: "Switchyard: Effect Schema contract, default transports",
    budget: 34 * KB,
    lazy: true,
  },
  { file: "peers.ts", what: "Switchyard: Standard Schema contract, WebSocket and peers" },
  { file: "webrtc.ts", what: "Switchyard: Standard Schema contract, WebSocket and WebRTC" },
  { file: "socketio.ts", what: "socket.io-client" },
  { file: "trpc.ts", what: "@trpc/client (all links)" },
  { file: "signalr.ts", what: "@microsoft/signalr" },
]

const analyze = process.argv.includes("--analyze")

/** Bundles one entry; the chunks a page would load for it, their minified and gzipped bytes. */
async function bundle(entry, external) {
  const outdir = mkdtempSync(join(tmpdir(), "switchyard-size-"))
  try {
    const result = await build({
      entryPoints: [join(root, "size/entries", entry.file)],
      outdir,
      bundle: true,
      splitting: true,
      minify: true,
      format: "esm",
      platform: "browser",
      conditions: ["@switchyard/source"],
      external,
      metafile: true,
      logLevel: "silent",
    })
    const outputs = result.metafile.outputs
    const entryChunk = Object.keys(outputs).find((path) => outputs[path].entryPoint !== undefined)
    const loaded = new Set()
    const visit = (path) => {
      if (loaded.has(path)) return
      loaded.add(path)
      for (const i of outputs[path].imports) {
        if (i.external) continue
        if (i.kind === "import-statement" || (entry.lazy && i.kind === "dynamic-import")) visit(i.path)
      }
    }
    visit(entryChunk)
    let raw = 0
    let gzip = 0
    for (const path of loaded) {
      const code = readFileSync(join(root, relative(root, path)))
      raw += code.byteLength
      gzip += gzipSync(code, { level: 9 }).byteLength
    }
    return { raw, gzip, meta: result.metafile, loaded }
  } finally {
    rmSync(outdir, { recursive: true, force: true })
  }
}

async function measure(entry) {
  const full = await bundle(entry, [])
  const own = entry.what.startsWith("Switchyard") ? await bundle(entry, ["effect", "effect/*"]) : undefined
  return { ...entry, ...full, own: own?.gzip }
}

/** Minified bytes per package (or per file of a workspace package) in one bundle, largest first. */
function weights(meta, loaded) {
  const by = new Map()
  for (const path of loaded) {
    for (const [input, { bytesInOutput }] of Object.entries(meta.outputs[path].inputs)) {
      const pkg = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)
      const key = pkg ? pkg[1] : input.replace(/^.*?(packages\/|size\/)/, "$1")
      by.set(key, (by.get(key) ?? 0) + bytesInOutput)
    }
  }
  return [...by].sort((a, b) => b[1] - a[1])
}

const kb = (bytes) => `${(bytes / KB).toFixed(1)} KB`
const results = []
for (const entry of entries) results.push(await measure(entry))

const rows = results.map((r) => [
  r.what,
  kb(r.raw),
  kb(r.gzip),
  r.own === undefined ? "" : kb(r.own),
  r.budget === undefined ? "" : kb(r.budget),
  r.budget === undefined ? "" : r.gzip <= r.budget ? "ok" : "OVER",
])
const header = ["bundle (esbuild minify, ESM, browser; gzip -9)", "minified", "gzip", "without effect", "budget", ""]
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
const line = (cells) =>
  `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`
console.log(line(header))
console.log(`|${widths.map((w, i) => (i === 0 ? `${"-".repeat(w + 1)}-` : `${"-".repeat(w + 1)}:`)).join("|")}|`)
for (const row of rows) console.log(line(row))

if (analyze) {
  for (const r of results.filter((r) => r.what.startsWith("Switchyard"))) {
    console.log(`\n${r.what} (minified bytes by input):`)
    for (const [input, bytes] of weights(r.meta, r.loaded).slice(0, 25))
      console.log(`  ${String(bytes).padStart(7)}  ${input}`)
  }
}

const over = results.filter((r) => r.budget !== undefined && r.gzip > r.budget)
for (const r of over) console.error(`over budget: ${r.what}: ${kb(r.gzip)} gz > ${kb(r.budget)}`)
process.exit(over.length > 0 ? 1 : 0)
