import type { RuleSet } from './rule.ts';

export const networkRules: RuleSet = {};
