export { entries, root } from "./entries.mjs"
export { memberOf, publicExports } from "./exports.mjs"
export { generate } from "./generate.mjs"
