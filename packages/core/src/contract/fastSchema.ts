import type * as SchemaAST from "effect/SchemaAST"

/** Returned by a fast checker when it cannot vouch for a value: the caller asks Effect Schema instead. */
export const MISS: unique symbol = Symbol("switchyard.miss")

/** Converts a value exactly as Effect's JSON codec would, or returns `MISS`. */
export type FastChecker = (value: unknown) => unknown

/** Annotations that only document a schema; any other one may change parsing, so it disables the fast path. */
const inert = new Set([
  "title",
  "description",
  "identifier",
  "documentation",
  "examples",
  "default",
  "expected",
  "message",
])

/**
 * Compiles a fast checker for the schemas most contracts are made of: structs with required keys,
 * arrays, strings, finite numbers, booleans, literals and `Unknown`, with no checks, transformations or
 * options. For those, Effect's canonical JSON codec is the identity on valid values (it only rebuilds
 * structs and arrays without undeclared keys), in both directions, so one checker serves decode and
 * encode. It answers only when sure: anything else (an invalid value, a non-finite number, an unusual
 * node) gives `MISS`, and Effect Schema decides, with its own error message. Returns `undefined` when the
 * schema has any node it does not know.
 */
export function compileFastChecker(ast: SchemaAST.AST): FastChecker | undefined {
  if (!plain(ast)) return undefined
  switch (ast._tag) {
    case "String":
      return (v) => (typeof v === "string" ? v : MISS)
    case "Number":
      return (v) => (typeof v === "number" && Number.isFinite(v) ? v : MISS)
    case "Boolean":
      return (v) => (typeof v === "boolean" ? v : MISS)
    case "Literal": {
      const literal = ast.literal
      if (typeof literal === "bigint") return undefined
      return (v) => (v === literal ? v : MISS)
    }
    case "Unknown":
      // Effect's JSON codec passes a JSON value through as it is, and refuses anything else.
      return (v) => (isJson(v, 0) ? v : MISS)
    case "Arrays": {
      if (ast.elements.length !== 0 || ast.rest.length !== 1) return undefined
      const item = compileFastChecker(ast.rest[0] as SchemaAST.AST)
      if (!item) return undefined
      return (v) => {
        if (!Array.isArray(v)) return MISS
        const out = new Array<unknown>(v.length)
        for (let i = 0; i < v.length; i++) {
          const r = item(v[i])
          if (r === MISS) return MISS
          out[i] = r
        }
        return out
      }
    }
    case "Objects": {
      // An empty struct passes any non-nullish value through in Effect, and `__proto__` needs
      // defineProperty: both are left to Effect.
      if (ast.indexSignatures.length !== 0 || ast.propertySignatures.length === 0) return undefined
      const keys: string[] = []
      const checkers: FastChecker[] = []
      for (const property of ast.propertySignatures) {
        if (typeof property.name !== "string" || property.name === "__proto__") return undefined
        const checker = compileFastChecker(property.type)
        if (!checker) return undefined
        keys.push(property.name)
        checkers.push(checker)
      }
      return (v) => {
        if (typeof v !== "object" || v === null || Array.isArray(v)) return MISS
        const out: Record<string, unknown> = {}
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i] as string
          if (!Object.hasOwn(v, key)) return MISS
          const r = (checkers[i] as FastChecker)((v as Record<string, unknown>)[key])
          if (r === MISS) return MISS
          out[key] = r
        }
        return out
      }
    }
    default:
      return undefined
  }
}

/** A node with no checks, transformations, context or parse-changing annotations. */
function plain(ast: SchemaAST.AST): boolean {
  const node = ast as {
    checks?: unknown
    encoding?: unknown
    context?: unknown
    encodingChecks?: unknown
    annotations?: object
  }
  if (node.checks !== undefined || node.encoding !== undefined || node.context !== undefined) return false
  if (node.encodingChecks !== undefined) return false
  if (node.annotations) for (const key of Object.keys(node.annotations)) if (!inert.has(key)) return false
  return true
}

/**
 * Whether `v` is a JSON value, walked as Effect's own check walks it (indexed loops, `Object.keys`):
 * plain objects only, finite numbers, at most 64 levels deep.
 */
function isJson(v: unknown, depth: number): boolean {
  if (v === null || typeof v === "string" || typeof v === "boolean") return true
  if (typeof v === "number") return Number.isFinite(v)
  if (typeof v !== "object" || depth > 64) return false
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!isJson(v[i], depth + 1)) return false
    return true
  }
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) return false
  const keys = Object.keys(v)
  for (let i = 0; i < keys.length; i++)
    if (!isJson((v as Record<string, unknown>)[keys[i] as string], depth + 1)) return false
  return true
}
