import { expectPeerSpiffeId, type Policy, type SigningKey } from '@tessera/core';
import { Agent, fetch, getGlobalDispatcher } from 'undici';

/**
 * What the authority lets a service ask for: tokens to each of these audiences (services that
 * name it in an allow entry), each with only the scopes that audience's allow entries require.
 */
export interface ServiceGrant {
  readonly name: string;
  readonly grants: readonly { readonly audience: string; readonly scopes: readonly string[] }[];
}

/**
 * The scopes `caller` needs for the routes of `target` that allow it: what it asks for in a token
 * to `target`. Empty when the policy gives it nothing there.
 */
export function scopesFor(policy: Policy, caller: string, target: string): string[] {
  const scopes = new Set<string>();
  for (const route of policy.services.find((s) => s.name === target)?.routes ?? []) {
    if (route.access !== 'callers') continue;
    for (const entry of route.allow) {
      if (entry.service === caller) for (const scope of entry.scopes) scopes.add(scope);
    }
  }
  return [...scopes].sort();
}

/**
 * Each declared service's grant, derived from the policy's allow entries, so the registry never
 * lets a service get a token the policy would not accept anyway (least privilege by
 * construction). `any-authenticated` routes and allow entries without scopes grant nothing: they
 * accept whatever token a caller already holds for that audience, or its certificate alone.
 */
export function grantsFromPolicy(policy: Policy): ServiceGrant[] {
  return policy.services.map(({ name }) => {
    const grants = policy.services
      .filter((target) => target.name !== name)
      .map((target) => ({ audience: target.name, scopes: scopesFor(policy, name, target.name) }))
      .filter((grant) => grant.scopes.length > 0);
    return { name, grants };
  });
}

/**
 * How the launcher proves to the admin API that it is an admin:
 * - `certificate`: an X.509-SVID whose SPIFFE ID the authority lists as an admin, presented as
 *   the client certificate over mutual TLS; `ca` is the trust bundle, and the server must be the
 *   authority's SVID (`authorityId`);
 * - `token`: the dev authority's admin token, for the plain-HTTP demo.
 */
export type AdminCredential =
  | {
      readonly certificate: {
        readonly cert: string;
        readonly key: string;
        readonly ca: string;
        readonly authorityId: string;
      };
    }
  | { readonly token: string };

/**
 * Registers (or re-registers: the admin API upserts) every service with its public key and
 * grant, and `hosts` (the addresses its SVIDs name besides its SPIFFE ID, so `curl` and
 * `openssl` can check the host too). Running it again with the same keys changes nothing, so the
 * demo does it on every start.
 */
export async function registerServices(options: {
  readonly authorityUrl: string;
  readonly admin: AdminCredential;
  readonly grants: readonly ServiceGrant[];
  readonly keys: ReadonlyMap<string, SigningKey>;
  readonly hosts?: readonly string[];
}): Promise<void> {
  const { admin } = options;
  const mtls = 'certificate' in admin ? admin.certificate : undefined;
  const agent =
    mtls === undefined
      ? undefined
      : new Agent({
          connect: {
            cert: mtls.cert,
            key: mtls.key,
            ca: mtls.ca,
            // The authority's SPIFFE ID, not the host name, is what its certificate must prove.
            checkServerIdentity: expectPeerSpiffeId(mtls.authorityId),
          },
        });
  try {
    for (const grant of options.grants) {
      const key = options.keys.get(grant.name);
      if (key === undefined) throw new Error(`no key for ${grant.name}`);
      const response = await fetch(new URL('/v1/admin/services', options.authorityUrl), {
        method: 'POST',
        headers: {
          ...('token' in admin ? { authorization: `Bearer ${admin.token}` } : {}),
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          name: grant.name,
          grants: grant.grants,
          jwks: { keys: [key.publicJwk] },
          ...(options.hosts !== undefined ? { hosts: options.hosts } : {}),
        }),
        signal: AbortSignal.timeout(5000),
        dispatcher: agent ?? getGlobalDispatcher(),
      });
      await response.body?.cancel();
      if (response.status !== 200 && response.status !== 201) {
        throw new Error(
          `registering ${grant.name} failed: the authority answered ${response.status}`,
        );
      }
    }
  } finally {
    await agent?.close();
  }
}
