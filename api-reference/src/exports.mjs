// Every public export of the packages with its TSDoc, read with the TypeScript compiler API (TypeScript 6,
// the last with a JavaScript API; the repository's compiler, 7, has none). This is the list the test
// (packages/tests/src/api-reference.test.ts) holds the docs and the generated reference to, read apart
// from typedoc so that an export typedoc leaves out is noticed.
import { join } from "node:path"
import ts from "typescript"
import { entries, root } from "./entries.mjs"

/**
 * @typedef {object} Export
 * @property {string} module the entry point it is exported from (`@switchyard/core/testing`)
 * @property {string} name the exported name
 * @property {string} kind `function`, `class`, `variable`, `interface`, `type`, `enum` or `namespace`
 * @property {string} summary the first paragraph of its doc comment ("" when it has none)
 * @property {string[]} examples the code of each `@example` (its fenced block, or the tag's text)
 * @property {string} where `packages/core/src/x.ts:12`, the declaration
 */

/** @returns {Export[]} */
export function publicExports() {
  const list = entries()
  const config = ts.getParsedCommandLineOfConfigFile(join(root, "api-reference/tsconfig.json"), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"))
    },
  })
  if (config === undefined) throw new Error("api-reference/tsconfig.json does not parse")
  const program = ts.createProgram({
    rootNames: list.map((e) => join(root, e.file)),
    options: { ...config.options, noEmit: true },
  })
  const checker = program.getTypeChecker()
  /** @type {Export[]} */
  const found = []
  for (const entry of list) {
    const file = program.getSourceFile(join(root, entry.file))
    const moduleSymbol = file && checker.getSymbolAtLocation(file)
    if (moduleSymbol === undefined) throw new Error(`${entry.file}: not a module`)
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
      const declaration = symbol.declarations?.[0]
      const tags = symbol.getJsDocTags(checker)
      found.push({
        module: entry.module,
        name: exported.name,
        kind: kindOf(symbol),
        summary: ts.displayPartsToString(symbol.getDocumentationComment(checker)).split(/\n\s*\n/)[0]?.trim() ?? "",
        examples: tags.filter((t) => t.name === "example").map((t) => codeOf(ts.displayPartsToString(t.text))),
        where: declaration === undefined ? entry.file : whereOf(declaration),
      })
    }
  }
  return found
}

/** @param {ts.Symbol} symbol */
function kindOf(symbol) {
  const f = symbol.flags
  if (f & ts.SymbolFlags.Class) return "class"
  if (f & ts.SymbolFlags.Function) return "function"
  if (f & ts.SymbolFlags.Enum) return "enum"
  if (f & ts.SymbolFlags.Variable) return "variable"
  if (f & ts.SymbolFlags.Interface) return "interface"
  if (f & ts.SymbolFlags.TypeAlias) return "type"
  if (f & (ts.SymbolFlags.ValueModule | ts.SymbolFlags.NamespaceModule)) return "namespace"
  return "other"
}

/** The code of an `@example`: its fenced block when it has one, else the tag's text. @param {string} text */
function codeOf(text) {
  const fenced = /```[\w-]*\n([\s\S]*?)\n\s*```/.exec(text)
  return fenced?.[1] ?? text
}

/** @param {ts.Declaration} declaration */
function whereOf(declaration) {
  const file = declaration.getSourceFile()
  const { line } = file.getLineAndCharacterOfPosition(declaration.getStart())
  return `${file.fileName.slice(root.length + 1)}:${line + 1}`
}
