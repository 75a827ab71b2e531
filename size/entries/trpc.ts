// @trpc/client with all of its links: everything the package exports.
import * as trpc from "@trpc/client"

console.log(trpc)
