// The docs site (VitePress). The pages stay where they are, docs/<name>.md, because the code, the README
// and scripts/check-structure.mjs cite them by that path; this file only arranges them. docs/site.md says
// why VitePress.
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { type DefaultTheme, defineConfig } from "vitepress"

const docs = dirname(dirname(fileURLToPath(import.meta.url)))
const root = dirname(docs)

/** Pages by group; a page in docs/ that no group names is listed under "More" rather than lost. */
const groups: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, string]>]> = [
  [
    "Getting started",
    [
      ["index", "What Switchyard is"],
      ["README", "All pages"],
    ],
  ],
  [
    "Tutorials",
    [
      // docs/tutorial-<slug>.md, each backed by a runnable app in examples/<slug>/ that the tests run.
      ["tutorial-getting-started", "Getting started in five minutes"],
      ["tutorial-chat", "A chat with presence"],
      ["tutorial-dashboard", "A live dashboard"],
      ["tutorial-redis", "Scaling out with Redis"],
      ["tutorial-trpc", "tRPC on Switchyard"],
      ["tutorial-p2p-game", "Peer-to-peer game state over WebRTC"],
      ["tutorial-effect", "Effect users: handlers and streams as Effects"],
      ["tutorial-socketio", "Migrating from Socket.IO"],
      ["tutorial-nginx", "Deploying behind nginx"],
    ],
  ],
  [
    "Guides",
    [
      ["sessions", "Sessions"],
      ["topics", "Topics"],
      ["presence", "Presence"],
      ["delivery", "Reliable and unreliable delivery"],
      ["peers", "Peer connections"],
      ["trpc", "tRPC on Switchyard"],
    ],
  ],
  [
    "Transports",
    [
      ["negotiation", "Negotiation"],
      ["http-transports", "HTTP transports"],
      ["sse", "Server-Sent Events"],
      ["long-polling", "Long polling"],
      ["polling", "Polling"],
      ["webrtc", "WebRTC data channels"],
      ["webrtc-turn", "WebRTC through STUN and TURN"],
      ["proxies", "Behind real proxies"],
      ["doctor", "Test your network"],
    ],
  ],
  [
    "Scaling",
    [
      ["scaling", "Many nodes"],
      ["performance", "Performance"],
    ],
  ],
  [
    "Reference",
    [
      ["protocol", "Wire protocol"],
      ["errors", "Errors"],
      ["limits", "Limits and security defaults"],
    ],
  ],
  [
    "Contributing",
    [
      ["architecture", "Architecture"],
      ["server-transports", "Server transports"],
      ["webrtc-implementations", "WebRTC implementations"],
      ["fuzzing", "Fuzzing and the soak"],
      ["site", "This site"],
    ],
  ],
]

/** Markdown files of docs/ that are not pages of the site. */
const notPages: readonly string[] = []

function sidebar(): DefaultTheme.SidebarItem[] {
  const pages = readdirSync(docs)
    .filter((f) => f.endsWith(".md") && !notPages.includes(f))
    .map((f) => f.slice(0, -3))
  const listed = new Set(groups.flatMap(([, items]) => items.map(([page]) => page)))
  const items = groups.map(([text, entries]) => ({
    text,
    items: entries.filter(([page]) => pages.includes(page)).map(([page, label]) => ({ text: label, link: `/${page}` })),
  }))
  const more = pages.filter((p) => !listed.has(p)).sort()
  if (more.length > 0) items.push({ text: "More", items: more.map((page) => ({ text: page, link: `/${page}` })) })
  return items
}

/**
 * The API reference's sidebar, written by api-reference/src/generate.mjs (run by `pnpm docs:build` before
 * VitePress) with the pages in docs/api/; none before the first generation.
 */
function apiSidebar(): DefaultTheme.SidebarItem[] {
  const file = join(docs, "api/typedoc-sidebar.json")
  const items = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as DefaultTheme.SidebarItem[]) : []
  return [{ text: "API reference", link: "/api/", items }]
}

/**
 * GitHub's heading ids (lower case, punctuation dropped, spaces to dashes), so that the anchors the pages
 * link to (`errors.md#invalid_frame`, `negotiation.md#1-the-offer`) are the same on GitHub and here.
 */
export function githubSlug(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
    .replace(/ /g, "-")
}

/**
 * A link from a page to a file of the repository outside docs/ (`../bench/README.md`) has no page in the
 * site: with DOCS_REPO_URL set it goes to that file in the repository, otherwise its text stays and the
 * link goes (the path is kept as the title).
 */
const repoUrl = process.env.DOCS_REPO_URL?.replace(/\/$/, "")

export default defineConfig({
  title: "Switchyard",
  description:
    "Typed RPC and realtime messaging for TypeScript: one session over WebRTC, WebSocket, SSE, long polling and polling.",
  srcExclude: notPages.map((f) => f),
  cleanUrls: false,
  lastUpdated: false,
  // Pages link to each other as `x.md`; VitePress fails the build on a link to a missing page.
  ignoreDeadLinks: false,
  head: [["link", { rel: "icon", href: "data:," }]],
  // The doctor's page (docs/doctor.md) bundles @switchyard/doctor/page from the workspace's sources, so
  // that the site builds without building the packages first.
  vite: {
    resolve: { conditions: ["@switchyard/source"] },
    ssr: { resolve: { conditions: ["@switchyard/source"] } },
  },
  markdown: {
    anchor: { slugify: githubSlug },
    headers: { slugify: githubSlug },
    config(md) {
      const open = md.renderer.rules.link_open
      const close = md.renderer.rules.link_close
      const outside: boolean[] = []
      md.renderer.rules.link_open = (tokens, idx, options, env: { path?: string }, self) => {
        const token = tokens[idx]
        const href = token?.attrGet("href") ?? ""
        const isRelative = href !== "" && !/^[a-z]+:|^#|^\//i.test(href)
        const page = env.path ?? join(docs, "index.md")
        const target = isRelative ? resolve(dirname(page), href.replace(/[#?].*$/, "")) : ""
        const away = isRelative && relative(docs, target).startsWith("..")
        outside.push(away)
        if (token && away) {
          const path = relative(root, target)
          if (repoUrl === undefined) return `<span class="repo-path" title="${md.utils.escapeHtml(path)}">`
          token.attrSet("href", `${repoUrl}/blob/main/${path}`)
        }
        return open ? open(tokens, idx, options, env, self) : self.renderToken(tokens, idx, options)
      }
      md.renderer.rules.link_close = (tokens, idx, options, env, self) => {
        if (outside.pop() === true && repoUrl === undefined) return "</span>"
        return close ? close(tokens, idx, options, env, self) : self.renderToken(tokens, idx, options)
      }
    },
  },
  themeConfig: {
    nav: [
      { text: "Guides", link: "/sessions" },
      { text: "Protocol", link: "/protocol" },
      { text: "Errors", link: "/errors" },
      { text: "Limits", link: "/limits" },
      { text: "API reference", link: "/api/" },
    ],
    // The API reference (docs/api/, generated) has its own sidebar; every other page has the guides'.
    sidebar: { "/api/": apiSidebar(), "/": sidebar() },
    outline: { level: [2, 3] },
    search: { provider: "local" },
  },
})
