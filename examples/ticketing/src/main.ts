import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  configDocument,
  createAuthorityLogger,
  prepareDevMode,
  startAuthority,
  validateConfig,
  type AuthorityConfig,
} from '@tessera/authority';
import {
  createKeyRotation,
  createWorkloadIdentity,
  type KeyRotation,
  type WorkloadIdentity,
} from '@tessera/client';
import { startIdp, TENANT_CLAIM, type RunningIdp } from '@tessera/example-idp';
import type { UsersOptions } from '@tessera/fastify';
import { parsePolicy, serviceSpiffeId, type Policy, type SigningKey } from '@tessera/core';
import pino from 'pino';
import { banner } from './banner.ts';
import { BILLING, startBilling } from './billing.ts';
import {
  DEFAULT_DEMO_DATA_DIR,
  DEFAULT_KEY_ROTATION_SECONDS,
  DEFAULT_PORTS,
  demoSettingsFromEnv,
  PORT_VARIABLES,
  type DemoPorts,
  type DemoTransport,
} from './config.ts';
import { EVENT_SERVICE, startEventService } from './event-service.ts';
import { API_GATEWAY, startGateway } from './gateway.ts';
import { loadOrCreateServiceKey, serviceKeyPath, writeServiceKey } from './keys.ts';
import { LAUNCHER, launcherAdminCredential } from './launcher-identity.ts';
import { grantsFromPolicy, registerServices, type AdminCredential } from './registration.ts';
import type { HandlerObserver, RunningService } from './service.ts';

const HOST = '127.0.0.1';
export const POLICY_FILE = new URL('../policy.yaml', import.meta.url);

/**
 * Who may act for a user towards whom (the authority's `tokenExchange.mayAct`): the gateway
 * towards event-service and billing, event-service towards billing. Anything else is refused
 * (`unauthorized_client`), whatever the registry grants.
 */
export const MAY_ACT: readonly { readonly actor: string; readonly audiences: readonly string[] }[] =
  Object.freeze([
    Object.freeze({ actor: API_GATEWAY, audiences: Object.freeze([EVENT_SERVICE, BILLING]) }),
    Object.freeze({ actor: EVENT_SERVICE, audiences: Object.freeze([BILLING]) }),
  ]);

/** The demo IdP as both the authority and the gateway trust it: its issuer, audience and keys. */
function userIssuer(idp: RunningIdp) {
  return {
    issuer: idp.issuer,
    audience: idp.audience,
    jwks: `${idp.issuer}/jwks`,
    algorithms: ['ES256'] as const,
    tenantClaim: TENANT_CLAIM,
  };
}

/**
 * The dev authority's config with the user side added: the IdP as the one `users.issuers[]`
 * entry (token exchange accepts its access tokens as subject tokens, the tenant from
 * `tenant_id`), {@link MAY_ACT}, and over mTLS the launcher as an admin by SPIFFE ID.
 */
function authorityConfig(dev: AuthorityConfig, idp: RunningIdp, admins: readonly string[]) {
  const users = userIssuer(idp);
  return validateConfig(
    {
      ...configDocument(dev),
      ...(admins.length > 0 ? { admin: { spiffeIds: [...admins] } } : {}),
      users: {
        issuers: [
          {
            issuer: users.issuer,
            audience: users.audience,
            jwksUri: users.jwks,
            algorithms: [...users.algorithms],
            tenantClaim: users.tenantClaim,
          },
        ],
      },
      tokenExchange: {
        mayAct: MAY_ACT.map(({ actor, audiences }) => ({ actor, audiences: [...audiences] })),
      },
    },
    { dev: true },
  );
}

export interface DemoOptions {
  /** Default `.tessera` (relative to the working directory). */
  readonly dataDir?: string;
  /**
   * Default 7700–7704. A service port may be 0 (any free port), and so may the IdP's (its
   * issuer follows); the authority's may not, since its URL is the issuer of every token.
   */
  readonly ports?: Partial<DemoPorts>;
  /** Print nothing (tests). */
  readonly quiet?: boolean;
  readonly observe?: HandlerObserver;
  /** Default `mtls`: every hop, the authority included, over mutual TLS. */
  readonly transport?: DemoTransport;
  /** How often each service rotates its client key, in seconds. Default 3600. */
  readonly keyRotationSeconds?: number;
}

export interface RunningDemo {
  readonly dataDir: string;
  readonly transport: DemoTransport;
  /** The dev admin token (the launcher itself uses it only in the plain-HTTP demo). */
  readonly adminTokenPath: string;
  /** `<dataDir>/bundle.pem`, the trust domain's CA bundle (mTLS only). */
  readonly bundlePath: string | undefined;
  readonly policy: Policy;
  readonly authorityUrl: string;
  /** The user IdP's issuer, `http://127.0.0.1:<idp port>` (plain HTTP in both transports). */
  readonly idpUrl: string;
  readonly urls: {
    readonly [API_GATEWAY]: string;
    readonly [EVENT_SERVICE]: string;
    readonly [BILLING]: string;
  };
  /** `<dataDir>/keys/<service>.key`: the service's current key (rotated in place). */
  keyFile(service: string): string;
  /** Rotates a service's client key now (as its schedule does): registered, written, in use. */
  rotateKey(service: string): Promise<void>;
  /** `<dataDir>/logs/<service>.log` (`authority` for the authority's). */
  logFile(service: string): string;
  /** Stops the services, then the authority. */
  close(): Promise<void>;
}

/** Closes in reverse start order; every closer runs even when one fails. */
async function closeAll(closers: readonly (() => Promise<void>)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const close of [...closers].reverse()) {
    try {
      await close();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}

/**
 * Starts the whole demo: the authority in dev mode, the three services registered with it from
 * `policy.yaml` (idempotently: keys are reused across restarts), then billing, event-service and
 * api-gateway, each verifying its callers with `@tessera/fastify` and calling the next with
 * `@tessera/client`.
 *
 * With `mtls` (the default) the authority serves HTTPS with its own SVID, the launcher registers
 * the services over mTLS as an admin SPIFFE ID (see {@link launcherAdminCredential}), and each
 * service gets its SVID in-process from a workload identity: it serves HTTPS with a client
 * certificate required, and calls upstream through the identity's dispatcher, which checks the
 * upstream's SPIFFE ID, with a bearer token as well.
 */
export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const ports = { ...DEFAULT_PORTS, ...options.ports };
  if (ports.authority === 0) {
    throw new Error('the authority needs a fixed port: its URL is the issuer of every token');
  }
  const transport = options.transport ?? 'mtls';
  const mtls = transport === 'mtls';
  const policy = parsePolicy(await readFile(POLICY_FILE, 'utf8'));
  const dev = await prepareDevMode({
    dataDir: options.dataDir ?? DEFAULT_DEMO_DATA_DIR,
    listen: { host: HOST, port: ports.authority },
    tls: mtls,
  });
  const { dataDir } = dev;
  const trustDomain = dev.config.trustDomain;
  const bundlePath = dev.config.tls?.bundleFile;
  const logFile = (service: string) => join(dataDir, 'logs', `${service}.log`);
  const closers: (() => Promise<void>)[] = [];
  try {
    await mkdir(join(dataDir, 'logs'), { recursive: true, mode: 0o700 });
    const authorityLog = pino.destination({ dest: logFile('authority'), sync: true, mkdir: true });
    closers.push(() => {
      authorityLog.end();
      return Promise.resolve();
    });
    // The users' OpenID provider first: the authority and the gateway trust its issuer, whose URL
    // names its port. Plain HTTP on loopback in both transports (see examples/idp).
    const idp = await startIdp({ port: ports.idp });
    closers.push(() => idp.close());
    const config = authorityConfig(
      dev.config,
      idp,
      mtls ? [serviceSpiffeId(trustDomain, LAUNCHER)] : [],
    );
    const authority = await startAuthority(config, {
      logger: createAuthorityLogger({ level: 'info', destination: authorityLog }),
    });
    closers.push(async () => {
      const closing = authority.close();
      // The services are closed by now, so any connection left is an idle keep-alive socket of
      // a client that is going away too; without this, close() waits out its keep-alive timeout.
      authority.app.server.closeAllConnections();
      await closing;
    });
    const bundle = bundlePath === undefined ? undefined : await readFile(bundlePath, 'utf8');

    const keys = new Map<string, SigningKey>();
    for (const service of policy.services) {
      keys.set(service.name, await loadOrCreateServiceKey(dataDir, service.name));
    }
    const admin: AdminCredential = mtls
      ? await launcherAdminCredential(authority.context.ca, trustDomain)
      : { token: (await readFile(dev.adminTokenPath, 'utf8')).trim() };
    await registerServices({
      authorityUrl: authority.url,
      admin,
      grants: grantsFromPolicy(policy),
      keys,
      // SVIDs name the address too, so curl and openssl can check the host as well.
      ...(mtls ? { hosts: [HOST] } : {}),
    });

    // Each service's client key rotates on a schedule: the authority registers the new public
    // key (keeping the current one until the next rotation), the new private key replaces the
    // key file, then every token request, SVID request and revocation-feed read signs with it.
    // Over https the rotation reaches the authority trusting the trust domain's bundle.
    const rotations = new Map<string, KeyRotation>();
    for (const service of policy.services) {
      const key = createKeyRotation({
        authorityUrl: authority.url,
        clientId: serviceSpiffeId(trustDomain, service.name),
        key: keys.get(service.name)!,
        intervalSeconds: options.keyRotationSeconds ?? DEFAULT_KEY_ROTATION_SECONDS,
        onRotated: (next) => writeServiceKey(dataDir, service.name, next),
        onError: (error, retryInMs) => {
          if (options.quiet === true) return;
          const reason = error instanceof Error ? error.message : 'unknown error';
          console.error(
            `${service.name}: key rotation failed (${reason}); the current key stays, retry in ${Math.ceil(retryInMs / 1000)} s`,
          );
        },
        ...(bundle !== undefined ? { ca: bundle } : {}),
      });
      closers.push(() => {
        key.close();
        return Promise.resolve();
      });
      rotations.set(service.name, key);
    }
    const rotatingKey = (service: string): KeyRotation => {
      const key = rotations.get(service);
      if (key === undefined) throw new Error(`no key for ${service}`);
      return key;
    };

    /** The service's SVID, renewed in-process; closed after the service that serves it. */
    const identityOf = async (service: string): Promise<WorkloadIdentity | undefined> => {
      if (bundle === undefined) return undefined;
      const identity = await createWorkloadIdentity({
        authority: { url: authority.url, ca: bundle },
        spiffeId: serviceSpiffeId(trustDomain, service),
        credentials: { key: rotatingKey(service) },
      });
      closers.push(() => identity.close());
      return identity;
    };
    const common = async (service: string, port: number) => ({
      policy,
      authorityUrl: authority.url,
      key: rotatingKey(service),
      host: HOST,
      port,
      logFile: logFile(service),
      identity: await identityOf(service),
      authorityCa: bundle,
      ...(options.observe !== undefined ? { observe: options.observe } : {}),
    });
    const started = async (service: Promise<RunningService>) => {
      const running = await service;
      closers.push(() => running.close());
      return running;
    };
    const billing = await started(startBilling(await common(BILLING, ports.billing)));
    const events = await started(
      startEventService({
        ...(await common(EVENT_SERVICE, ports.eventService)),
        billingUrl: billing.url,
      }),
    );
    const gateway = await started(
      startGateway({
        ...(await common(API_GATEWAY, ports.gateway)),
        eventServiceUrl: events.url,
        billingUrl: billing.url,
        users: { ...userIssuer(idp), algorithms: ['ES256'] } satisfies UsersOptions,
      }),
    );

    const demo: RunningDemo = {
      dataDir,
      transport,
      adminTokenPath: dev.adminTokenPath,
      bundlePath,
      policy,
      authorityUrl: authority.url,
      idpUrl: idp.issuer,
      urls: { [API_GATEWAY]: gateway.url, [EVENT_SERVICE]: events.url, [BILLING]: billing.url },
      keyFile: (service) => serviceKeyPath(dataDir, service),
      rotateKey: async (service) => {
        await rotatingKey(service).rotate();
      },
      logFile,
      close: () => closeAll(closers),
    };
    if (options.quiet !== true) {
      console.log(
        banner(
          {
            transport,
            bundlePath,
            authorityUrl: authority.url,
            gatewayUrl: gateway.url,
            eventServiceUrl: events.url,
            billingUrl: billing.url,
            idpUrl: idp.issuer,
            adminTokenPath: dev.adminTokenPath,
            keyDir: join(dataDir, 'keys'),
            logDir: join(dataDir, 'logs'),
          },
          process.cwd(),
        ),
      );
    }
    return demo;
  } catch (error) {
    await closeAll(closers).catch(() => undefined);
    throw error;
  }
}

/** `npm start`: settings from the environment, a banner, and a clean stop on SIGINT/SIGTERM. */
async function runFromCommandLine(): Promise<void> {
  let demo: RunningDemo;
  try {
    demo = await startDemo(demoSettingsFromEnv(process.env));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    console.error(`ticketing demo: ${error instanceof Error ? error.message : String(error)}`);
    if (code === 'EADDRINUSE') {
      console.error(
        `A port is taken (another demo or \`tessera authority start\` still running?). ` +
          `Stop it, or choose ports with ${Object.values(PORT_VARIABLES).join(', ')}.`,
      );
    }
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130); // a second Ctrl-C: do not wait any longer
    stopping = true;
    console.log(`\n${signal}: stopping the services and the authority`);
    demo.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`ticketing demo: stopping failed: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(resolve(process.argv[1])).href
) {
  await runFromCommandLine();
}
