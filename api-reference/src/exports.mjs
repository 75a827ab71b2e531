// Every public export of the packages with its TSDoc, read with the TypeScript compiler API (TypeScript 6,
// the last with a JavaScript API; the repository's compiler, 7, has none). This is the list the test
// (packages/tests/src/api-reference.test.ts) holds the docs and the generated reference to, read apart
// from typedoc so that an export typedoc leaves out is noticed.
import { join } from "node:path"
import ts from "typescript"
import { entries, root } from "./entries.mjs"

/** @typedef {import("./entries.mjs").Entry} Entry */

/**
 * @typedef {object} Export
 * @property {string} module the entry point it is exported from (`@switchyard/core/testing`)
 * @property {string} name the exported name
 * @property {string} kind `function`, `class`, `variable`, `interface`, `type`, `enum` or `namespace`; for a
 *   member (memberExamples), `method`, `property` or `accessor`
 * @property {boolean} typeOnly whether only its type is exported (an interface, or `export type { X }`)
 * @property {string} summary the first sentence of its doc comment ("" when it has none)
 * @property {Example[]} examples its `@example`s
 * @property {string} where `packages/core/src/x.ts:12`, the declaration
 */

/**
 * @typedef {object} Example
 * @property {string} code the example's fenced block (or the tag's text when it has no fence)
 * @property {string} where `packages/core/src/x.ts:40`: the line of the opening fence (of the tag when none)
 */

/**
 * The exports of every entry point (entries.mjs), read from `program` when given (the one typedoc built,
 * so that the test compiles the packages once), else from a program of their own. `list` replaces the
 * entry points (a test's fixture).
 * @param {ts.Program} [given]
 * @param {readonly Entry[]} [list]
 * @returns {Export[]}
 */
export function publicExports(given, list = entries()) {
  const program = given ?? programOf(list)
  const checker = program.getTypeChecker()
  /** @type {Export[]} */
  const found = []
  for (const { entry, exported, symbol } of exportsOf(program, list)) {
    const declarations = symbol.declarations ?? []
    found.push({
      module: entry.module,
      name: exported.name,
      kind: kindOf(symbol),
      typeOnly:
        (symbol.flags & ts.SymbolFlags.Value) === 0 ||
        (exported.declarations ?? []).some((d) => ts.isTypeOnlyImportOrExportDeclaration(d)),
      summary: summaryOf(symbol, checker),
      examples: declarations.flatMap(examplesOf),
      where: declarations[0] === undefined ? entry.file : whereOf(declarations[0], declarations[0].getStart()),
    })
  }
  return found
}

/**
 * Each export of each entry point of `list`, with the symbol it names (an alias followed to it).
 * @param {ts.Program} program
 * @param {readonly Entry[]} list
 * @returns {Generator<{ entry: Entry, exported: ts.Symbol, symbol: ts.Symbol }>}
 */
function* exportsOf(program, list) {
  const checker = program.getTypeChecker()
  for (const entry of list) {
    const file = program.getSourceFile(join(root, entry.file))
    const moduleSymbol = file && checker.getSymbolAtLocation(file)
    if (moduleSymbol === undefined) throw new Error(`${entry.file}: not a module`)
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
      yield { entry, exported, symbol }
    }
  }
}

/**
 * A member of an exported interface or class (`Server.listen`), as an export of its own: the test asks the
 * methods a user calls first for an example too.
 * @param {ts.Program} program
 * @param {string} module the entry point (`@switchyard/server-node`)
 * @param {string} owner the exported interface or class (`Server`)
 * @param {string} member (`listen`)
 * @returns {Export | undefined}
 */
export function memberOf(program, module, owner, member) {
  const checker = program.getTypeChecker()
  const entry = entries().find((e) => e.module === module)
  const file = entry && program.getSourceFile(join(root, entry.file))
  const moduleSymbol = file && checker.getSymbolAtLocation(file)
  const exported = moduleSymbol && checker.getExportsOfModule(moduleSymbol).find((s) => s.name === owner)
  if (exported === undefined) return undefined
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
  const found = symbol.members?.get(/** @type {ts.__String} */ (member))
  const declarations = found?.declarations ?? []
  if (found === undefined || declarations[0] === undefined) return undefined
  return {
    module,
    name: `${owner}.${member}`,
    kind: "method",
    typeOnly: false,
    summary: summaryOf(found, checker),
    examples: declarations.flatMap(examplesOf),
    where: whereOf(declarations[0], declarations[0].getStart()),
  }
}

/**
 * The members of the public exports that have an `@example` (`Client.reauthenticate`,
 * `ServerOptions.authenticate`), as exports of their own named `Owner.member`: the properties and methods
 * of every exported class, interface or object type (those it inherits included; a member is listed once,
 * under the first export that has it, so `module` is that export's entry point), and a
 * class's static members. One level deep: a member's own members are not walked. Read like
 * publicExports, from `program` when given and from the entry points `list` (default: all of them).
 * @param {ts.Program} [given]
 * @param {readonly Entry[]} [list]
 * @returns {Export[]}
 */
export function memberExamples(given, list = entries()) {
  const program = given ?? programOf(list)
  const checker = program.getTypeChecker()
  /** @type {Export[]} */
  const found = []
  // A member is listed once, under the first export that has it (in the entry points' order).
  /** @type {Set<ts.Declaration>} */
  const seen = new Set()
  for (const { entry, exported, symbol } of exportsOf(program, list)) {
    for (const member of membersOf(symbol, checker)) {
      const declarations = (member.declarations ?? []).filter((d) => !seen.has(d))
      for (const d of declarations) seen.add(d)
      const examples = declarations.flatMap(examplesOf)
      if (declarations[0] === undefined || examples.length === 0) continue
      found.push({
        module: entry.module,
        name: `${exported.name}.${member.name}`,
        kind: kindOf(member),
        typeOnly: (symbol.flags & ts.SymbolFlags.Value) === 0,
        summary: summaryOf(member, checker),
        examples,
        where: whereOf(declarations[0], declarations[0].getStart()),
      })
    }
  }
  return found
}

/**
 * The members of an exported class, interface or type alias: the properties of its type (of each member
 * of a union), and a class's statics.
 * @param {ts.Symbol} symbol
 * @param {ts.TypeChecker} checker
 * @returns {ts.Symbol[]}
 */
function membersOf(symbol, checker) {
  if ((symbol.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) === 0) return []
  const type = checker.getDeclaredTypeOfSymbol(symbol)
  const members = (type.isUnion() ? type.types : [type]).flatMap((t) => checker.getPropertiesOfType(t))
  if (symbol.flags & ts.SymbolFlags.Class) {
    const statics = checker.getPropertiesOfType(checker.getTypeOfSymbol(symbol))
    members.push(...statics.filter((s) => s.name !== "prototype"))
  }
  return members
}

/**
 * The summary of a symbol's doc comment: its first sentence (to the first `.`, `!` or `?` followed by a space
 * or the end of the paragraph).
 * @param {ts.Symbol} symbol
 * @param {ts.TypeChecker} checker
 */
function summaryOf(symbol, checker) {
  const paragraph = ts.displayPartsToString(symbol.getDocumentationComment(checker)).split(/\n\s*\n/)[0] ?? ""
  return (paragraph.split(/(?<=[.!?])\s/)[0] ?? "").replace(/\s+/g, " ").trim()
}

/** @param {readonly Entry[]} list */
function programOf(list) {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, "api-reference/tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"))
      },
    },
  )
  if (config === undefined) throw new Error("api-reference/tsconfig.json does not parse")
  return ts.createProgram({
    rootNames: list.map((e) => join(root, e.file)),
    options: { ...config.options, noEmit: true },
  })
}

/**
 * The `@example`s of a declaration, each with the line its code starts on, so that a compiler message
 * points into the source.
 * @param {ts.Declaration} declaration
 * @returns {Example[]}
 */
function examplesOf(declaration) {
  /** @type {Example[]} */
  const found = []
  for (const tag of ts.getJSDocTags(declaration)) {
    if (tag.tagName.text !== "example") continue
    const text = typeof tag.comment === "string" ? tag.comment : (ts.getTextOfJSDocComment(tag.comment) ?? "")
    const fenced = /```[\w-]*\n([\s\S]*?)\n\s*```/.exec(text)
    const source = tag.getSourceFile().text
    const fence = source.indexOf("```", tag.getStart())
    const inTag = fenced !== null && fence !== -1 && fence < tag.getEnd()
    found.push({
      code: fenced?.[1] ?? text,
      where: whereOf(declaration, inTag ? fence : tag.tagName.getStart()),
    })
  }
  return found
}

/** @param {ts.Symbol} symbol */
function kindOf(symbol) {
  const f = symbol.flags
  if (f & ts.SymbolFlags.Class) return "class"
  if (f & ts.SymbolFlags.Function) return "function"
  if (f & ts.SymbolFlags.Enum) return "enum"
  if (f & ts.SymbolFlags.Method) return "method"
  if (f & ts.SymbolFlags.Property) return "property"
  if (f & ts.SymbolFlags.Accessor) return "accessor"
  if (f & ts.SymbolFlags.Variable) return "variable"
  if (f & ts.SymbolFlags.Interface) return "interface"
  if (f & ts.SymbolFlags.TypeAlias) return "type"
  if (f & (ts.SymbolFlags.ValueModule | ts.SymbolFlags.NamespaceModule)) return "namespace"
  return "other"
}

/** @param {ts.Node} node @param {number} at */
function whereOf(node, at) {
  const file = node.getSourceFile()
  const { line } = file.getLineAndCharacterOfPosition(at)
  return `${file.fileName.slice(root.length + 1)}:${line + 1}`
}
