#!/usr/bin/env node
// `switchyard-doctor <url>`: the built command (src/cli.ts), run as the program.
import { run } from "../dist/cli.js"

run()
