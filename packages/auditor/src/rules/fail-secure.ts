import type { RuleSet } from './rule.ts';

export const failSecureRules: RuleSet = {};
