// Typed without importing esbuild, which the root package does not depend on: each caller passes its own.

/** An esbuild plugin: bundles `@switchyard/*` (and relative imports); the rest external, by absolute path. */
export declare const externalPackages: { name: string; setup(build: unknown): void }

/** What `bundleForNode` needs of esbuild's `build`. */
type Build = (options: never) => Promise<{ outputFiles?: readonly { contents: Uint8Array }[] }>

/** esbuild's entry: `entryPoints` or `stdin`. */
interface Entry {
  readonly entryPoints?: readonly string[]
  readonly stdin?: { contents: string; resolveDir: string; loader: "ts"; sourcefile: string }
}

/**
 * Bundles a TypeScript entry into the ES module `file` for Node 20 and returns `file`. Rejects with
 * esbuild's errors, e.g. an import that cannot be resolved.
 */
export declare function bundleForNode(
  build: Build,
  entry: Entry,
  file: string,
  logLevel?: "silent" | "warning",
): Promise<string>
