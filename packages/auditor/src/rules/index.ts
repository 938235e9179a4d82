import type { CheckId } from '../model.ts';
import { failSecureRules } from './fail-secure.ts';
import { identityVerificationRules } from './identity-verification.ts';
import { messageQueueRules } from './message-queue.ts';
import { networkRules } from './network.ts';
import { proxyHeadersRules } from './proxy-headers.ts';
import type { Rule } from './rule.ts';
import { secretsRules } from './secrets.ts';
import { serviceClientRules } from './service-client.ts';
import { serviceEndpointRules } from './service-endpoint.ts';
import { tokenManagementRules } from './token-management.ts';

/** Every rule, keyed by the check it decides. */
export const RULES: ReadonlyMap<CheckId, Rule> = new Map(
  [
    serviceClientRules,
    serviceEndpointRules,
    identityVerificationRules,
    messageQueueRules,
    secretsRules,
    networkRules,
    tokenManagementRules,
    proxyHeadersRules,
    failSecureRules,
  ].flatMap((set) => Object.entries(set) as [CheckId, Rule][]),
);
