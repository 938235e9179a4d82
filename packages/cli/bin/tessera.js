#!/usr/bin/env node
// The packages ship TypeScript sources; tsx compiles them on load (Node 20 cannot strip types).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
