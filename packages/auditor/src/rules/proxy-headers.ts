import type { RuleSet } from './rule.ts';

export const proxyHeadersRules: RuleSet = {};
