#!/usr/bin/env node
// The whole test suite, as the README's test command runs it: typecheck, lint, structure
// (scripts/check-structure.mjs), build, bundle sizes (scripts/size.mjs), publint and every vitest test
// (unit, type, contract over each transport in Node and in Chromium, hostile input, examples).
// Each check counts as one test; vitest tests count one each. System packages the tests need (Chromium,
// coturn, iproute2) are installed first when missing (scripts/system-packages.mjs). Ends with "N passed, N failed".
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync } from "node:fs"
import { ensureSystemPackages } from "./system-packages.mjs"

const root = new URL("..", import.meta.url).pathname
let passed = 0
let failed = 0
const failures = []

function step(name, command, args) {
  console.log(`\n── ${name}: ${command} ${args.join(" ")}`)
  const started = Date.now()
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env: process.env })
  const ok = result.status === 0
  console.log(
    `── ${name}: ${ok ? "ok" : `FAILED (exit ${result.status ?? result.signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  )
  return ok
}

function check(name, command, args) {
  if (step(name, command, args)) passed++
  else {
    failed++
    failures.push(name)
  }
}

ensureSystemPackages()
check("typecheck", "pnpm", ["-r", "run", "typecheck"])
check("lint", "pnpm", ["exec", "biome", "check", "."])
check("structure: no import cycle, no source file over 400 lines", "node", ["scripts/check-structure.mjs"])
check("build", "pnpm", ["build"])
check("size: client bundles within their ceilings", "node", ["scripts/size.mjs"])
check("publint", "pnpm", ["publint"])

mkdirSync(`${root}.tmp`, { recursive: true })
const report = `${root}.tmp/vitest.json`
const vitestOk = step("vitest", "pnpm", [
  "exec",
  "vitest",
  "run",
  "--reporter=default",
  "--reporter=json",
  `--outputFile=${report}`,
])
if (existsSync(report)) {
  const json = JSON.parse(readFileSync(report, "utf8"))
  passed += json.numPassedTests
  failed += json.numFailedTests
  if (json.numFailedTests > 0) failures.push(`${json.numFailedTests} vitest test(s)`)
  // A file that failed to load counts as a failure even when no test inside it ran.
  const broken = json.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0).length
  failed += broken
  if (broken > 0) failures.push(`${broken} test file(s) that did not load`)
  if (!vitestOk && json.numFailedTests === 0 && broken === 0) {
    failed++
    failures.push("vitest exited non-zero")
  }
} else {
  failed++
  failures.push("vitest produced no report")
}

if (failures.length > 0) console.log(`\nfailed: ${failures.join(", ")}`)
console.log(`\n${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
