#!/usr/bin/env node
// The system packages the test suite needs, in one list, and the one place that installs them: `pnpm test`
// (scripts/test-all.mjs) calls `ensureSystemPackages()` before anything else, and `.ci/run` only runs
// `pnpm test`. When something is missing and this process is root on a machine with apt-get, it is
// installed with Debian's packages; otherwise it prints the exact command to run and stops, so a test that
// needs a missing tool never fails with a stack trace.
//
// Run it alone to install or check: `node scripts/system-packages.mjs`.
import { execFileSync } from "node:child_process"
import { accessSync, constants, existsSync } from "node:fs"
import { delimiter, join } from "node:path"

/** Where a tool is looked for: an absolute path (overridable by an environment variable) or a command on PATH. */
export const systemPackages = [
  {
    package: "chromium",
    tool: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    why: "the browser tests (packages/tests/src/*.chromium.test.ts), driven by playwright-core",
  },
  {
    package: "coturn",
    tool: process.env.TURNSERVER_PATH ?? "/usr/bin/turnserver",
    why: "the TURN relay of packages/tests/src/webrtc.turn.test.ts",
    // The test starts its own turnserver on loopback: no service listening on every interface.
    afterInstall: stopService("coturn"),
  },
  {
    package: "redis-server",
    tool: process.env.REDIS_SERVER_PATH ?? "/usr/bin/redis-server",
    why: "the many-node tests (packages/redis, packages/tests/src/cluster.*.test.ts): each starts its own redis-server on a free loopback port",
    afterInstall: stopService("redis-server"),
  },
  {
    package: "nginx",
    tool: process.env.NGINX_PATH ?? "/usr/sbin/nginx",
    why: "the reverse proxy of packages/tests/src/cluster.nginx.test.ts, proxies.test.ts and tutorial-nginx.test.ts (examples/nginx/switchyard.conf)",
    afterInstall: stopService("nginx"),
  },
  {
    package: "squid",
    tool: process.env.SQUID_PATH ?? "/usr/sbin/squid",
    why: "the forward proxy (HTTP CONNECT and absolute-URI requests) of packages/tests/src/proxies.test.ts",
    // The test starts its own squid on loopback: no service listening on port 3128 of every interface.
    afterInstall: stopService("squid"),
  },
  {
    package: "openssl",
    tool: "openssl",
    why: "the self-signed certificate of packages/tests/src/doctor.test.ts's https: server (--proxy through CONNECT tunnels)",
  },
  {
    package: "iproute2",
    tool: "ip",
    why: "the network namespaces of packages/tests/src/peers.netns.chromium.test.ts",
  },
  {
    package: "util-linux",
    tool: "unshare",
    why: "the network namespaces of packages/tests/src/peers.netns.chromium.test.ts",
  },
]

/**
 * Debian starts a package's service when it is installed; the tests start their own on loopback, so the
 * service is stopped and disabled (systemd), or stopped (a container without systemd: `service`).
 */
function stopService(name) {
  return [
    ["systemctl", "disable", "--now", name],
    ["service", name, "stop"],
  ]
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** True when the tool is there: an absolute path that is executable, or a command found on PATH. */
export function hasTool(tool) {
  if (tool.startsWith("/")) return executable(tool)
  return (process.env.PATH ?? "").split(delimiter).some((dir) => dir !== "" && executable(join(dir, tool)))
}

/** The entries of `systemPackages` whose tool is missing. */
export function missingPackages() {
  return systemPackages.filter((p) => !hasTool(p.tool))
}

/**
 * Installs whatever is missing (as root, with apt-get), or explains what to install and exits 1.
 * Returns the names it installed.
 */
export function ensureSystemPackages() {
  const missing = missingPackages()
  if (missing.length === 0) return []
  const names = missing.map((p) => p.package)
  const root = typeof process.getuid === "function" && process.getuid() === 0
  if (!root || !existsSync("/usr/bin/apt-get")) {
    console.error("The test suite needs system packages that are missing:")
    for (const p of missing) console.error(`  ${p.package} (${p.tool}): ${p.why}`)
    console.error(
      root
        ? `This machine has no apt-get: install the packages above with its package manager.`
        : `Install them as root:  apt-get update && apt-get install -y ${names.join(" ")}`,
    )
    console.error(
      "(Chromium may also be named by CHROMIUM_PATH, turnserver by TURNSERVER_PATH, redis-server by REDIS_SERVER_PATH, nginx by NGINX_PATH, squid by SQUID_PATH.)",
    )
    process.exit(1)
  }
  console.log(`Installing ${names.join(", ")} with apt-get…`)
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env })
  execFileSync("apt-get", ["install", "-y", "-qq", ...names], { stdio: ["ignore", "ignore", "inherit"], env })
  for (const p of missing) {
    for (const command of p.afterInstall ?? []) {
      try {
        execFileSync(command[0], command.slice(1), { stdio: "ignore" })
        break
      } catch {
        // No systemd (a container): try the next way; none may apply when no service was started.
      }
    }
  }
  const still = missingPackages()
  if (still.length > 0) {
    for (const p of still) console.error(`apt-get installed ${p.package}, but ${p.tool} is still missing.`)
    process.exit(1)
  }
  return names
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const installed = ensureSystemPackages()
  console.log(
    installed.length === 0 ? "Every system package the tests need is here." : `Installed ${installed.join(", ")}.`,
  )
}
