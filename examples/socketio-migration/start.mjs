// Runs the Socket.IO app (src/before) and the Switchyard app (src/after) side by side, plays the same
// conversation against each (src/scenario.ts) and prints what every user saw: `pnpm start` here.
//
// Node 20 cannot run TypeScript, so the sources are bundled first (scripts/lib/nodeBundle.mjs says how).
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { build } from "esbuild"
import { bundleForNode } from "../../scripts/lib/nodeBundle.mjs"

const root = dirname(fileURLToPath(import.meta.url))
const dir = await mkdtemp(join(tmpdir(), "switchyard-socketio-"))
let app
try {
  const entry = {
    stdin: {
      contents: [
        'export { startBefore } from "./src/before/server.ts"',
        'export { connectBefore } from "./src/before/client.ts"',
        'export { startAfter } from "./src/after/server.ts"',
        'export { connectAfter } from "./src/after/client.ts"',
        'export { runScenario } from "./src/scenario.ts"',
      ].join("\n"),
      resolveDir: root,
      loader: "ts",
    },
  }
  app = await import(pathToFileURL(await bundleForNode(build, entry, join(dir, "app.mjs"))).href)
} finally {
  await rm(dir, { recursive: true, force: true })
}

const before = await app.startBefore()
const after = await app.startAfter()
console.log(`Socket.IO app: ${before.url}\nSwitchyard app: ${after.url}\n`)
try {
  const seenBefore = await app.runScenario((token) => app.connectBefore(before.url, token))
  const seenAfter = await app.runScenario((token) => app.connectAfter(after.url, token))
  for (const user of Object.keys(seenBefore)) {
    console.log(`${user}:`)
    const [a, b] = [seenBefore[user], seenAfter[user]]
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      console.log(`  ${(a[i] ?? "").padEnd(44)} ${a[i] === b[i] ? "=" : "≠"} ${b[i] ?? ""}`)
    }
  }
  const same = JSON.stringify(seenBefore) === JSON.stringify(seenAfter)
  console.log(same ? "\nSame behaviour before and after." : "\nThe two versions differ (≠ above).")
  process.exitCode = same ? 0 : 1
} finally {
  await Promise.all([before.close(), after.close()])
}
