import type { CheckDefinition } from '../model.ts';

/** The whole check catalog, in report order. (Filled in by the catalog work.) */
export const CATALOG: readonly CheckDefinition[] = [];
