import type { RuleSet } from './rule.ts';

export const serviceClientRules: RuleSet = {};
