import { execFile } from "node:child_process"
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { pages } from "../../../../scripts/docs-sync.mjs"

// Every ```ts block of the docs, compiled as written (docs/site.md, "Checks"). A block may be preceded
// by HTML comments, invisible on GitHub and on the site:
//   <!-- docs-check: skip (why) -->         the block is a fragment on purpose and is not compiled;
//   <!-- docs-check: prelude                 lines compiled above the block (imports, declared names
//   declare const client: Client<Chat>       the block uses but does not show); the block is shown
//   -->                                      as written.
//   <!-- example: examples/<app>/src/x.ts#region -->   the block is that region of an example app, which
//                                            the app's own typecheck compiles; it is not compiled here
//                                            again, and scripts/docs-sync.mjs keeps it equal to its source.

const root = join(import.meta.dirname, "../../../..")

export interface DocBlock {
  /** `docs/errors.md:52`: the file and the line of the opening fence. */
  readonly where: string
  readonly code: string
  readonly prelude: string
  /** The reason given by a skip marker. */
  readonly skip: string | undefined
  /** `examples/chat/src/server.ts#serve`: the example the block is taken from (an example marker). */
  readonly example: string | undefined
}

const fence = /^```ts\s*$/
const skip = /^<!-- docs-check: skip \((.+)\) -->$/
const prelude = /^<!-- docs-check: prelude\n([\s\S]*?)\n-->$/
const example = /^<!-- example: (\S+) -->$/

/** The ```ts blocks of a markdown file of the repository, with the markers before each. */
export function docBlocks(file: string): DocBlock[] {
  const lines = readFileSync(join(root, file), "utf8").split("\n")
  const blocks: DocBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (line.startsWith("```") && !fence.test(line)) {
      // Another language's block: step over it, so that a ```ts inside it is not taken for a block.
      i = closing(lines, i)
      continue
    }
    if (!fence.test(line)) continue
    const end = closing(lines, i)
    const markers = markersBefore(lines, i)
    const reason = markers.map((m) => skip.exec(m)?.[1]).find((r) => r !== undefined)
    const setup = markers.map((m) => prelude.exec(m)?.[1]).filter((p) => p !== undefined)
    const from = markers.map((m) => example.exec(m)?.[1]).find((e) => e !== undefined)
    const stray = markers.filter((m) => !skip.test(m) && !prelude.test(m) && !example.test(m))
    if (stray.length > 0) throw new Error(`${file}:${i + 1}: a docs-check marker not understood: ${stray[0]}`)
    blocks.push({
      where: `${file}:${i + 1}`,
      code: lines.slice(i + 1, end).join("\n"),
      prelude: setup.join("\n"),
      skip: reason,
      example: from,
    })
    i = end
  }
  return blocks
}

function closing(lines: readonly string[], open: number): number {
  for (let j = open + 1; j < lines.length; j++) if (lines[j]?.startsWith("```")) return j
  throw new Error(`unclosed code block at line ${open + 1}`)
}

/** The `<!-- docs-check: … -->` comments right above line `at` (blank lines between them allowed). */
function markersBefore(lines: readonly string[], at: number): string[] {
  const markers: string[] = []
  let j = at - 1
  while (j >= 0) {
    if ((lines[j] ?? "").trim() === "") {
      j--
      continue
    }
    if (!(lines[j] ?? "").endsWith("-->")) break
    let start = j
    while (start >= 0 && !(lines[start] ?? "").startsWith("<!--")) start--
    const comment = lines.slice(start, j + 1).join("\n")
    if (start < 0 || !(comment.startsWith("<!-- docs-check:") || comment.startsWith("<!-- example:"))) break
    markers.unshift(comment)
    j = start - 1
  }
  return markers
}

/** The markdown files whose blocks are checked: every page of docs/ and the README. */
export const docFiles: () => string[] = pages

/**
 * Type-checks the blocks in one `tsc` run (strict, against the packages' sources), each as a module of its
 * own; returns the compiler's messages by block. `folder` (under packages/tests/.tmp) keeps the runs of
 * test files that run at the same time apart.
 */
export async function compileBlocks(
  blocks: readonly DocBlock[],
  folder = "doc-blocks",
): Promise<Map<DocBlock, string[]>> {
  const dir = join(root, "packages/tests/.tmp", folder)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const names = blocks.map((block, n) => {
    const name = `${block.where.replace(/[^\w]+/g, "-")}-${n}.ts`
    // The prelude's lines and the block's keep their numbers apart: the block starts after a marker line.
    writeFileSync(join(dir, name), `${block.prelude}\n// ---- block ----\n${block.code}\nexport {}\n`)
    return name
  })
  // The modules a block imports by a relative path (`./contract.ts`, `./router.ts`).
  const modules = readdirSync(join(root, "packages/tests/docs-check")).filter((f) => !f.endsWith(".d.ts"))
  for (const module of modules) copyFileSync(join(root, "packages/tests/docs-check", module), join(dir, module))
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: "../../../../tsconfig.base.json",
      compilerOptions: {
        customConditions: ["@switchyard/source"],
        noEmit: true,
        module: "nodenext",
        // A block shows how a thing is used; a name it declares and then does not use is not an error.
        noUnusedLocals: false,
        noUnusedParameters: false,
      },
      files: ["../../docs-check/globals.d.ts", ...modules, ...names],
    }),
  )
  let output = ""
  try {
    await promisify(execFile)(join(root, "node_modules/.bin/tsc"), ["-p", join(dir, "tsconfig.json")], {
      cwd: dir,
      maxBuffer: 64 * 1024 * 1024,
    })
  } catch (error) {
    output = String((error as { stdout?: unknown }).stdout ?? error)
  }
  const messages = new Map<DocBlock, string[]>(blocks.map((b) => [b, []]))
  for (const line of output.split("\n")) {
    const n = names.findIndex((name) => line.startsWith(name))
    const block = blocks[n]
    if (block !== undefined) messages.get(block)?.push(located(block, line.slice((names[n] ?? "").length)))
    else if (line.trim() !== "" && !line.startsWith(" ")) throw new Error(`tsc: ${line}`)
  }
  return messages
}

/** `(12,5): error …` of the compiled file as `<page>.md:40:5: error …`, or as a line of the prelude. */
function located(block: DocBlock, message: string): string {
  const at = /^\((\d+),(\d+)\): /.exec(message)
  if (at === null) return message
  const line = Number(at[1])
  const preludeLines = block.prelude.split("\n").length
  const [file, fence] = block.where.split(":")
  const where =
    line > preludeLines + 1
      ? `${file}:${Number(fence) + line - preludeLines - 1}:${at[2]}`
      : `${block.where} (prelude line ${line}, column ${at[2]})`
  return `${where}: ${message.slice(at[0].length)}`
}
