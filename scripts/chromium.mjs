// Where the browser tests find Chromium: $CHROMIUM_PATH, or Debian's /usr/bin/chromium. When it is missing
// and we are root on a Debian-like machine, it is installed with apt-get (no test tool downloads a browser).
import { execSync } from "node:child_process"
import { existsSync } from "node:fs"

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

export function ensureChromium() {
  if (existsSync(chromiumPath)) return chromiumPath
  const root = typeof process.getuid === "function" && process.getuid() === 0
  if (!root || !existsSync("/usr/bin/apt-get")) {
    console.error(
      `Chromium not found at ${chromiumPath}. Install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH.`,
    )
    process.exit(1)
  }
  console.log("Installing Debian's chromium with apt-get…")
  execSync("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium", { stdio: "inherit" })
  return chromiumPath
}
