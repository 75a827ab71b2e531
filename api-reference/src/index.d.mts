// The types of index.mjs for the TypeScript of packages/tests (the JavaScript is checked by this package's
// own `tsc`, checkJs).
import type { Program } from "typescript"

/** A public entry point: its import specifier and its source file (from the repository root). */
export interface Entry {
  readonly module: string
  readonly file: string
}
/** An `@example`: its code and where that code starts (`packages/core/src/x.ts:40`). */
export interface Example {
  readonly code: string
  readonly where: string
}
/** A public export with its TSDoc. */
export interface Export {
  readonly module: string
  readonly name: string
  readonly kind: string
  /** Whether only its type is exported (an interface, a type, or `export type { X }`). */
  readonly typeOnly: boolean
  readonly summary: string
  readonly examples: readonly Example[]
  readonly where: string
}
/** The repository's root directory. */
export const root: string
/** Every public entry point (packages/<name>/package.json `exports` with a source file). */
export function entries(): Entry[]
/** Every export of every entry point (or of the entry points `list`), read from `program` when given. */
export function publicExports(program?: Program, list?: readonly Entry[]): Export[]
/** A member of an exported interface or class (`Server.listen`). */
export function memberOf(program: Program, module: string, owner: string, member: string): Export | undefined
/**
 * Every member of an exported class, interface or object type that has an `@example`, as an export named
 * `Owner.member` (its statics too, for a class; each member once, under the first export that has it), read
 * from `program` when given, of every entry point or of the entry points `list`.
 *
 * @example
 * ```ts
 * for (const member of memberExamples()) console.log(member.name, member.where, member.examples.length)
 * // ServerOptions.authenticate packages/server-node/src/options.ts:64 1
 * ```
 */
export function memberExamples(program?: Program, list?: readonly Entry[]): Export[]
/** Generates the reference into `out` (default docs/api). */
export function generate(options?: {
  readonly out?: string
  readonly onProgram?: (program: Program) => void
}): Promise<{ readonly ms: number; readonly out: string }>
