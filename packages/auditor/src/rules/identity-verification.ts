import type { RuleSet } from './rule.ts';

export const identityVerificationRules: RuleSet = {};
