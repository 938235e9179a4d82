#!/usr/bin/env node
// Runs the compiled CLI (dist/) under plain node. The repository's tests run the same file from
// source: node --conditions=tessera-source --import tsx packages/cli/bin/tessera.js
import { main } from '@tessera/cli';

process.exitCode = await main(process.argv.slice(2));
