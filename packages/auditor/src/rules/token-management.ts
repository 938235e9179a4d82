import type { RuleSet } from './rule.ts';

export const tokenManagementRules: RuleSet = {};
