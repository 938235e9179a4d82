/**
 * The bench registry: every bench module is listed here, in the order they run. Adding a module
 * is one import and one spread.
 */
import type { Benchmark } from './harness.ts';

import { benchmarks as auditor } from './auditor.bench.ts';
import { benchmarks as client } from './client.bench.ts';
import { benchmarks as authority } from './authority.bench.ts';
import { benchmarks as core } from './core.bench.ts';
import { benchmarks as demo } from './demo.bench.ts';
import { benchmarks as fastify } from './fastify.bench.ts';
import { benchmarks as fastifyMemory } from './fastify-memory.bench.ts';
import { benchmarks as tls } from './tls.bench.ts';

export const benchmarks: readonly Benchmark[] = [
  ...core,
  ...authority,
  ...client,
  ...fastify,
  ...fastifyMemory,
  ...tls,
  ...demo,
  ...auditor,
];
