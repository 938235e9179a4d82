import type { RuleSet } from './rule.ts';

export const secretsRules: RuleSet = {};
