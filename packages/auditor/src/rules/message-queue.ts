import type { RuleSet } from './rule.ts';

export const messageQueueRules: RuleSet = {};
