#!/usr/bin/env node
// Bundle sizes of the client against their budgets, beside socket.io-client, @trpc/client and
// @microsoft/signalr measured the same way: what a page really loads at startup. Each entry of
// size/entries is bundled by esbuild (minified, ESM, platform browser, split into chunks, workspace
// packages as they are published: their `dist`, which `pnpm build` must have brought up to date), served
// on 127.0.0.1 by a page that runs it as a module script, and opened in Chromium (Debian's, or
// CHROMIUM_PATH). The entry's size is the sum of the JS files the page requested
// until its requests settled, each gzipped at level 9: a chunk counts exactly when the page loads it (the
// Effect codec for an Effect contract, the negotiation machinery for a client given several transports;
// not streams or topics, whose modules a client loads when the app first opens a stream or subscribes).
// "without effect" is the same chunks built with `effect` left out (matched by their other inputs in
// esbuild's metafile): Switchyard's own share. KB = 1024 bytes.
//
// Each Switchyard entry has two bounds. Its target is the budget issue 10 set (docs/performance.md says
// how far we are from it). Its ceiling is what `pnpm test` enforces: today's size with a little room, so
// that no change makes the client bigger unnoticed; it is lowered as the client shrinks, never raised
// without a reason written in docs/performance.md.
//
//   node scripts/size.mjs             the table; exits non-zero when an entry is over its ceiling
//   node scripts/size.mjs --targets   and also when one is over its target
//   node scripts/size.mjs --analyze   and, per Switchyard entry, the inputs that weigh most
//   node scripts/size.mjs --shares    and, per chunk a Switchyard entry loads, each file's share of it
//                                     gzipped (scripts/size-shares.mjs says how it is measured)
//
// The entries connect to `/switchyard`, which the static server does not answer: the clients fail to
// connect and back off, which changes nothing of what they load (every chunk is requested at startup,
// and the script checks that the page loaded every chunk the entry chunk imports statically).
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { createServer } from "node:http"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { gzipSync } from "node:zlib"
import { gzipShares } from "./size-shares.mjs"

const root = new URL("..", import.meta.url).pathname
// esbuild, playwright-core and the libraries compared are dependencies of the private `size` package.
const require = createRequire(join(root, "size/package.json"))
const esbuild = require("esbuild")
const { build } = esbuild
const { chromium } = require("playwright-core")

const KB = 1024
/** A page's JS requests have settled when none came for this long (ms)… */
const QUIET_MS = 500
/** …and they must settle within this (ms), or the measurement fails. */
const SETTLE_LIMIT_MS = 10_000
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
// The flags of the tests' Chromium (packages/tests/src/support/chromium.ts): nothing reaches the network.
const CHROMIUM_FLAGS = JSON.parse(readFileSync(join(root, "scripts/chromium-flags.json"), "utf8"))

/** Each entry: what it measures, and its target and ceiling in gzipped bytes (none for the comparisons). */
const entries = [
  {
    file: "websocket.ts",
    what: "Switchyard: Standard Schema contract, WebSocket only",
    target: 8 * KB,
    // + 96 B measured for refusals told to the app (11 070 B → 11 166 B gzip).
    ceiling: 10.9 * KB + 96,
  },
  {
    file: "all-http.ts",
    what: "Switchyard: Standard Schema contract, the four non-WebRTC transports",
    target: 11 * KB,
    // + 122 B measured for refusals told to the app (14 971 B → 15 093 B gzip); + 125 B for reading a
    // refusal's body only when it is JSON of at most 4 KiB (15 141 B → 15 266 B gzip).
    ceiling: 14.7 * KB + 122 + 125,
  },
  {
    file: "effect-defaults.ts",
    what: "Switchyard: Effect Schema contract, default transports",
    target: 34 * KB,
    // + 126 B measured for refusals told to the app (41 908 B → 42 034 B gzip); + 128 B for reading a
    // refusal's body only when it is JSON of at most 4 KiB (42 081 B → 42 209 B gzip).
    ceiling: 41.0 * KB + 126 + 128,
  },
  {
    file: "peers.ts",
    what: "Switchyard: Standard Schema contract, WebSocket and peers",
    // + 356 B measured for unreliable peer channels (13 959 B → 14 315 B gzip); + 92 B for refusals told to
    // the app (14 315 B → 14 407 B gzip); + 169 B for the lossy channel's send buffer bound (14 464 B →
    // 14 633 B gzip).
    ceiling: 13.7 * KB + 356 + 92 + 169,
  },
  {
    file: "webrtc.ts",
    what: "Switchyard: Standard Schema contract, WebSocket and WebRTC",
    // + 97 B measured for refusals told to the app (15 780 B → 15 877 B gzip).
    ceiling: 15.5 * KB + 97,
  },
  {
    file: "trpc-link.ts",
    what: "Switchyard: @trpc/client with switchyardLink, WebSocket only",
    // + 94 B measured for refusals told to the app (16 216 B → 16 310 B gzip).
    ceiling: 15.9 * KB + 94,
  },
  { file: "socketio.ts", what: "socket.io-client" },
  { file: "trpc.ts", what: "@trpc/client (all links)" },
  { file: "trpc-wslink.ts", what: "@trpc/client with wsLink only" },
  { file: "signalr.ts", what: "@microsoft/signalr" },
]

/**
 * The workspace packages the entries bundle, read from their `dist` (what an app that installs them
 * bundles): TypeScript's output, where an enum is an object a bundler keeps and reads at run time, can
 * weigh more than the sources bundled directly (docs/performance.md#bundle-size).
 */
const workspacePackages = ["core", "client-browser", "webrtc-data", "trpc"]

/** Newest modification time of the files under `dir` that pass `keep`, 0 when there are none. */
function newest(dir, keep) {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !keep(entry.name)) continue
    latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs)
  }
  return latest
}

// A `dist` older than its sources would measure yesterday's client.
for (const name of workspacePackages) {
  const dir = join(root, "packages", name)
  const built = newest(join(dir, "dist"), (file) => file.endsWith(".js"))
  const edited = newest(join(dir, "src"), (file) => file.endsWith(".ts") && !/\.test(-d)?\.ts$/.test(file))
  if (built < edited) {
    console.error(`packages/${name}/dist is older than its sources: run \`pnpm build\` first`)
    process.exit(1)
  }
}

const analyze = process.argv.includes("--analyze")
const shares = process.argv.includes("--shares")
const checkTargets = process.argv.includes("--targets")
const isEffect = (input) => /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?effect\//.test(input)

/** esbuild's options for one entry: minified, ESM, browser, split into chunks. */
const buildOptions = (entry, outdir, external) => ({
  entryPoints: [join(root, "size/entries", entry.file)],
  outdir,
  bundle: true,
  splitting: true,
  minify: true,
  format: "esm",
  platform: "browser",
  external,
  metafile: true,
  logLevel: "silent",
})

/** Bundles one entry into `outdir`; esbuild's metafile, and the name of the entry's chunk there. */
async function bundle(entry, outdir, external) {
  const { metafile } = await build(buildOptions(entry, outdir, external))
  const source = `size/entries/${entry.file}`
  const chunk = Object.keys(metafile.outputs).find(
    (path) =>
      metafile.outputs[path].entryPoint !== undefined &&
      relative(root, join(root, metafile.outputs[path].entryPoint)) === source,
  )
  if (chunk === undefined) throw new Error(`esbuild produced no chunk for ${source}`)
  return { metafile, name: (path) => relative(outdir, join(root, relative(root, path))), chunk }
}

/**
 * Serves `outdir` on 127.0.0.1 with a page that runs `entryChunk`, opens it in `browser`, and returns the
 * names of the JS files the page requested once its requests have settled.
 */
async function loadedBy(browser, outdir, entryChunk) {
  const page = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="/${entryChunk}"></script>`
  const http = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname
    let type = "text/plain"
    let body = "not found"
    let status = 404
    if (path === "/") [type, body, status] = ["text/html", page, 200]
    else if (/^\/[\w.-]+\.js$/.test(path)) {
      try {
        body = readFileSync(join(outdir, path.slice(1)))
        ;[type, status] = ["text/javascript", 200]
      } catch {
        // not a file of this bundle: 404
      }
    }
    response.writeHead(status, { "content-type": `${type}; charset=utf-8`, "cache-control": "no-store" })
    response.end(body)
  })
  await new Promise((resolve, reject) => {
    http.once("error", reject)
    http.listen(0, "127.0.0.1", resolve)
  })
  const origin = `http://127.0.0.1:${http.address().port}`
  const context = await browser.newContext()
  try {
    const tab = await context.newPage()
    const requested = new Set()
    let last = Date.now()
    tab.on("request", (request) => {
      const url = new URL(request.url())
      if (url.origin !== origin || !url.pathname.endsWith(".js")) return
      requested.add(url.pathname.slice(1))
      last = Date.now()
    })
    await tab.goto(`${origin}/`, { waitUntil: "load" })
    const started = Date.now()
    while (Date.now() - last < QUIET_MS) {
      if (Date.now() - started > SETTLE_LIMIT_MS) {
        throw new Error(`the page of ${entryChunk} still requests JS after ${SETTLE_LIMIT_MS} ms`)
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return requested
  } finally {
    await context.close()
    http.closeAllConnections()
    await new Promise((resolve) => http.close(resolve))
  }
}

/** The chunks `chunk` imports statically, itself included: what a page must load before running it. */
function staticClosure(metafile, chunk, seen = new Set()) {
  if (seen.has(chunk)) return seen
  seen.add(chunk)
  for (const i of metafile.outputs[chunk].imports) {
    if (!i.external && i.kind === "import-statement") staticClosure(metafile, i.path, seen)
  }
  return seen
}

/** The inputs of an output chunk other than Effect's, as one key. */
const ownInputs = (output) =>
  Object.keys(output.inputs)
    .filter((input) => !isEffect(input))
    .sort()
    .join("\n")

async function measure(browser, entry) {
  const outdir = mkdtempSync(join(tmpdir(), "switchyard-size-"))
  const ownDir = mkdtempSync(join(tmpdir(), "switchyard-size-own-"))
  try {
    const full = await bundle(entry, outdir, [])
    const requested = await loadedBy(browser, outdir, full.name(full.chunk))
    const byName = new Map(Object.keys(full.metafile.outputs).map((path) => [full.name(path), path]))
    const loaded = [...requested].map((name) => {
      const path = byName.get(name)
      if (path === undefined)
        throw new Error(`the page of ${entry.file} requested ${name}, which esbuild did not write`)
      return path
    })
    for (const path of staticClosure(full.metafile, full.chunk)) {
      if (!loaded.includes(path)) throw new Error(`the page of ${entry.file} did not load ${full.name(path)}`)
    }
    const sizes = (dir, paths, name) =>
      paths.reduce(
        (sum, path) => {
          const code = readFileSync(join(dir, name(path)))
          return { raw: sum.raw + code.byteLength, gzip: sum.gzip + gzipSync(code, { level: 9 }).byteLength }
        },
        { raw: 0, gzip: 0 },
      )
    const { raw, gzip } = sizes(outdir, loaded, full.name)
    let own
    if (entry.what.startsWith("Switchyard")) {
      // The same chunks without Effect: built again with `effect` external, matched by their other inputs.
      const bare = await bundle(entry, ownDir, ["effect", "effect/*"])
      const byInputs = new Map(Object.entries(bare.metafile.outputs).map(([path, o]) => [ownInputs(o), path]))
      const matched = []
      for (const path of loaded) {
        const key = ownInputs(full.metafile.outputs[path])
        if (key === "") continue
        const match = byInputs.get(key)
        if (match === undefined) throw new Error(`no Effect-free twin of ${full.name(path)} (${entry.file})`)
        matched.push(match)
      }
      own = sizes(ownDir, matched, bare.name).gzip
    }
    return { ...entry, raw, gzip, own, meta: full.metafile, loaded }
  } finally {
    rmSync(outdir, { recursive: true, force: true })
    rmSync(ownDir, { recursive: true, force: true })
  }
}

/** Minified bytes per package (or per file of a workspace package) in the loaded chunks, largest first. */
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
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS })
const results = []
try {
  for (const entry of entries) results.push(await measure(browser, entry))
} finally {
  await browser.close()
}

const rows = results.map((r) => [
  r.what,
  kb(r.raw),
  kb(r.gzip),
  r.own === undefined ? "" : kb(r.own),
  r.target === undefined ? "" : `${kb(r.target)} ${r.gzip <= r.target ? "met" : "over"}`,
  r.ceiling === undefined ? "" : `${kb(r.ceiling)} ${r.gzip <= r.ceiling ? "ok" : "OVER"}`,
])
const header = [
  "loaded at startup in Chromium (esbuild minify, ESM, browser; gzip -9)",
  "minified",
  "gzip",
  "without effect",
  "target (issue 10)",
  "ceiling (CI)",
]
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
const line = (cells) =>
  `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`
console.log(line(header))
console.log(`|${widths.map((w, i) => (i === 0 ? `${"-".repeat(w + 1)}-` : `${"-".repeat(w + 1)}:`)).join("|")}|`)
for (const row of rows) console.log(line(row))

if (analyze) {
  for (const r of results.filter((r) => r.what.startsWith("Switchyard"))) {
    console.log(`\n${r.what}: ${r.loaded.length} chunk(s) loaded; minified bytes by input:`)
    for (const [input, bytes] of weights(r.meta, r.loaded).slice(0, 25))
      console.log(`  ${String(bytes).padStart(7)}  ${input}`)
  }
}

if (shares) {
  for (const r of results.filter((r) => r.what.startsWith("Switchyard"))) {
    const keys = r.loaded.map((path) => Object.keys(r.meta.outputs[path].inputs).sort().join("\n"))
    const outdir = mkdtempSync(join(tmpdir(), "switchyard-size-shares-"))
    try {
      const byChunk = await gzipShares(esbuild, buildOptions(r, outdir, []), keys)
      for (const [i, path] of r.loaded.entries()) {
        const chunk = byChunk.get(keys[i])
        if (chunk === undefined) continue
        const shown = chunk.shares.filter((s) => s.bytes >= 40)
        console.log(
          `\n${r.what}, chunk ${i + 1} of ${r.loaded.length} (${kb(chunk.total)} gz; ${path.replace(/^.*\//, "")}):`,
        )
        for (const s of shown) console.log(`  ${String(s.bytes).padStart(7)}  ${s.name}`)
        const rest = chunk.shares.length - shown.length
        if (rest > 0) console.log(`  (${rest} more under 40 bytes each)`)
      }
    } finally {
      rmSync(outdir, { recursive: true, force: true })
    }
  }
}

const over = results.filter((r) => r.ceiling !== undefined && r.gzip > r.ceiling)
for (const r of over) console.error(`over its ceiling: ${r.what}: ${kb(r.gzip)} gz > ${kb(r.ceiling)}`)
const missed = results.filter((r) => r.target !== undefined && r.gzip > r.target)
if (checkTargets)
  for (const r of missed) console.error(`over its target: ${r.what}: ${kb(r.gzip)} gz > ${kb(r.target)}`)
process.exit(over.length > 0 || (checkTargets && missed.length > 0) ? 1 : 0)
