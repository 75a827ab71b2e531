// Generates the API reference of the docs site (docs/api/, not committed) from the packages' TSDoc with
// typedoc and typedoc-plugin-markdown: one page per entry point and per exported class, interface,
// function…, as VitePress Markdown, with the sidebar in docs/api/typedoc-sidebar.json. docs/site.md says
// why typedoc and how the reference is checked. Run by `pnpm docs:build` (and docs:dev) before VitePress.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { Application, Converter, ReflectionKind } from "typedoc"
import { entries, root } from "./entries.mjs"

/**
 * Writes the reference into `out` (default docs/api). `onProgram` is handed the TypeScript program typedoc
 * read the packages with (the test lists the exports from it rather than compiling them twice).
 * @param {{ out?: string, onProgram?: (program: import("typescript").Program) => void }} [options]
 */
export async function generate(options = {}) {
  const started = performance.now()
  const list = entries()
  const out = options.out ?? join(root, "docs/api")
  const app = await Application.bootstrapWithPlugins({
    entryPoints: list.map((e) => join(root, e.file)),
    entryPointStrategy: "resolve",
    tsconfig: join(root, "api-reference/tsconfig.json"),
    plugin: ["typedoc-plugin-markdown", "typedoc-vitepress-theme"],
    out,
    // typedoc-vitepress-theme's option (the site's root, for the sidebar's links), and typedoc-plugin-markdown's:
    // an `<a id>` before each member's heading (see `aliasAnchors`), and one page per entry point, a section
    // per export (docs/site.md, "API reference", says why). typedoc's types lack them.
    ...{ docsRoot: join(root, "docs"), useHTMLAnchors: true, outputFileStrategy: "modules" },
    readme: "none",
    // The packages are type-checked by their own `tsc`; typedoc only reads them.
    skipErrorChecking: true,
    excludePrivate: true,
    excludeProtected: true,
    excludeInternal: true,
    disableSources: true,
    hideGenerator: true,
    sort: ["kind", "alphabetical"],
    validation: { notExported: false, invalidLink: true, notDocumented: false },
    name: "API reference",
    logLevel: "Warn",
  })
  // An entry point is named as users import it (`@switchyard/core/testing`), not by its path.
  const names = new Map(list.map((e) => [join(root, e.file), e.module]))
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    if (!reflection.kindOf(ReflectionKind.Module)) return
    const symbol = context.getSymbolFromReflection(reflection)
    const file = symbol?.declarations?.[0]?.getSourceFile().fileName
    const name = file === undefined ? undefined : names.get(file)
    if (name !== undefined) reflection.name = name
  })
  const onProgram = options.onProgram
  if (onProgram !== undefined)
    app.converter.on(Converter.EVENT_BEGIN, (context) => {
      const [program] = context.programs
      if (program !== undefined) onProgram(program)
    })
  const project = await app.convert()
  if (project === undefined) throw new Error("typedoc could not convert the packages")
  await app.generateOutputs(project)
  if (app.logger.hasErrors()) throw new Error("typedoc reported errors")
  aliasAnchors(out)
  writeFileSync(join(out, stampName), inputsStamp())
  return { ms: performance.now() - started, out: relative(root, out) }
}

const stampName = ".inputs"

/**
 * What the reference is generated from, as one line: the newest modification time among the packages'
 * sources and manifests and this generator's own files. `pnpm docs` skips the generation when the
 * reference in docs/api was generated from the same (`.inputs` there), so that a second start of the
 * dev server does not wait for typedoc again.
 */
function inputsStamp() {
  let newest = 0
  /** @param {string} path */
  const visit = (path) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name)
      if (entry.isDirectory()) visit(full)
      else newest = Math.max(newest, statSync(full).mtimeMs)
    }
  }
  for (const name of readdirSync(join(root, "packages"))) {
    const dir = join(root, "packages", name)
    if (existsSync(join(dir, "src"))) visit(join(dir, "src"))
    if (existsSync(join(dir, "package.json"))) newest = Math.max(newest, statSync(join(dir, "package.json")).mtimeMs)
  }
  visit(join(root, "api-reference/src"))
  return `${newest}\n`
}

/** The reference in `out` was generated from the packages as they are now. */
export function isCurrent(out = join(root, "docs/api")) {
  const stamp = join(out, stampName)
  return existsSync(stamp) && readFileSync(stamp, "utf8") === inputsStamp()
}

/**
 * typedoc-plugin-markdown's links to a member write `_` as `-` and drop a leading one
 * (`index.md#presence-event` for `PRESENCE_EVENT`, `#tag` for `_tag`), while its anchors keep them
 * (`<a id="presence_event">`): each such anchor gets the other id too, so that the links land (the site's
 * check, packages/tests/src/docs-site.chromium.test.ts, found them).
 * @param {string} out
 */
function aliasAnchors(out) {
  for (const file of readdirSync(out, { recursive: true, encoding: "utf8" })) {
    if (!file.endsWith(".md")) continue
    const text = readFileSync(join(out, file), "utf8")
    const aliased = text.replace(/<a id="([^"]*_[^"]*)"><\/a>/g, (anchor, id) => {
      const alias = id.replace(/_+/g, "-").replace(/^-+|-+$/g, "")
      return text.includes(`<a id="${alias}">`) ? anchor : `${anchor}<a id="${alias}"></a>`
    })
    if (aliased !== text) writeFileSync(join(out, file), aliased)
  }
}

if (process.argv[1] === import.meta.filename) {
  if (isCurrent()) console.log("API reference: docs/api/ is up to date")
  else {
    const { ms, out } = await generate()
    console.log(`API reference: ${out}/ in ${(ms / 1000).toFixed(1)} s`)
  }
}
