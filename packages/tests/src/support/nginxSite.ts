import { readFile, writeFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { join } from "node:path"
import { mainConfig, renderSite } from "@switchyard/example-nginx/nginxConfig"
import { behindNginx } from "@switchyard/example-nginx/server"
import { Nginx } from "./cluster/nginx.ts"
import type { HarnessFront } from "./harnesses.ts"

/** examples/nginx/switchyard.conf: the site file docs/tutorial-nginx.md shows, run here unchanged. */
export const siteTemplatePath = createRequire(import.meta.url).resolve("@switchyard/example-nginx/switchyard.conf")

/** The origin the tests' pages would be served from, as `allowedOrigins` lists it. */
export const publicOrigin = "https://app.example"

/**
 * Debian's nginx with the example's site file in front of `127.0.0.1:<upstream>`: the file rendered as
 * the tutorial says (`${LISTEN}` a free loopback port, `${UPSTREAM}` the app) and included from the
 * http block of a configuration whose writable paths are all in nginx's temporary directory.
 */
export async function startSite(upstream: number): Promise<Nginx> {
  const template = await readFile(siteTemplatePath, "utf8")
  return Nginx.startWith(async (dir, port) => {
    const site = join(dir, "switchyard.conf")
    await writeFile(site, renderSite(template, { listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${upstream}` }))
    return mainConfig(dir, site)
  })
}

/** The Node harness's front: the site's nginx, and the server options the example gives behind it. */
export const nginxSiteFront: HarnessFront = {
  serverOptions: behindNginx(publicOrigin),
  start: startSite,
}
