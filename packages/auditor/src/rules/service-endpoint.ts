import type { RuleSet } from './rule.ts';

export const serviceEndpointRules: RuleSet = {};
