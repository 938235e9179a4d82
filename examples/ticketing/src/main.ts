import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createAuthorityLogger, prepareDevMode, startAuthority } from '@tessera/authority';
import { parsePolicy, type Policy, type SigningKey } from '@tessera/core';
import pino from 'pino';
import { banner } from './banner.ts';
import { BILLING, startBilling } from './billing.ts';
import {
  DEFAULT_DEMO_DATA_DIR,
  DEFAULT_PORTS,
  demoSettingsFromEnv,
  PORT_VARIABLES,
  type DemoPorts,
} from './config.ts';
import { EVENT_SERVICE, startEventService } from './event-service.ts';
import { API_GATEWAY, startGateway } from './gateway.ts';
import { loadOrCreateServiceKey, serviceKeyPath } from './keys.ts';
import { grantsFromPolicy, registerServices } from './registration.ts';
import type { HandlerObserver, RunningService } from './service.ts';

const HOST = '127.0.0.1';
export const POLICY_FILE = new URL('../policy.yaml', import.meta.url);

export interface DemoOptions {
  /** Default `.tessera` (relative to the working directory). */
  readonly dataDir?: string;
  /**
   * Default 7700–7703. A service port may be 0 (any free port); the authority's may not, since
   * its URL is the issuer of every token.
   */
  readonly ports?: Partial<DemoPorts>;
  /** Print nothing (tests). */
  readonly quiet?: boolean;
  readonly observe?: HandlerObserver;
}

export interface RunningDemo {
  readonly dataDir: string;
  readonly adminTokenPath: string;
  readonly policy: Policy;
  readonly authorityUrl: string;
  readonly urls: {
    readonly [API_GATEWAY]: string;
    readonly [EVENT_SERVICE]: string;
    readonly [BILLING]: string;
  };
  /** `<dataDir>/keys/<service>.key`. */
  keyFile(service: string): string;
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
 */
export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const ports = { ...DEFAULT_PORTS, ...options.ports };
  if (ports.authority === 0) {
    throw new Error('the authority needs a fixed port: its URL is the issuer of every token');
  }
  const policy = parsePolicy(await readFile(POLICY_FILE, 'utf8'));
  const dev = await prepareDevMode({
    dataDir: options.dataDir ?? DEFAULT_DEMO_DATA_DIR,
    listen: { host: HOST, port: ports.authority },
  });
  const { dataDir } = dev;
  const logFile = (service: string) => join(dataDir, 'logs', `${service}.log`);
  const closers: (() => Promise<void>)[] = [];
  try {
    await mkdir(join(dataDir, 'logs'), { recursive: true, mode: 0o700 });
    const authorityLog = pino.destination({ dest: logFile('authority'), sync: true, mkdir: true });
    closers.push(() => {
      authorityLog.end();
      return Promise.resolve();
    });
    const authority = await startAuthority(dev.config, {
      logger: createAuthorityLogger({ level: 'info', destination: authorityLog }),
    });
    closers.push(async () => {
      const closing = authority.close();
      // The services are closed by now, so any connection left is an idle keep-alive socket of
      // a client that is going away too; without this, close() waits out its keep-alive timeout.
      authority.app.server.closeAllConnections();
      await closing;
    });

    const keys = new Map<string, SigningKey>();
    for (const service of policy.services) {
      keys.set(service.name, await loadOrCreateServiceKey(dataDir, service.name));
    }
    await registerServices({
      authorityUrl: authority.url,
      adminToken: (await readFile(dev.adminTokenPath, 'utf8')).trim(),
      grants: grantsFromPolicy(policy),
      keys,
    });

    const common = (service: string, port: number) => ({
      policy,
      authorityUrl: authority.url,
      key: keys.get(service)!,
      host: HOST,
      port,
      logFile: logFile(service),
      ...(options.observe !== undefined ? { observe: options.observe } : {}),
    });
    const started = async (service: Promise<RunningService>) => {
      const running = await service;
      closers.push(() => running.close());
      return running;
    };
    const billing = await started(startBilling(common(BILLING, ports.billing)));
    const events = await started(
      startEventService({
        ...common(EVENT_SERVICE, ports.eventService),
        billingUrl: billing.url,
      }),
    );
    const gateway = await started(
      startGateway({
        ...common(API_GATEWAY, ports.gateway),
        eventServiceUrl: events.url,
        billingUrl: billing.url,
      }),
    );

    const demo: RunningDemo = {
      dataDir,
      adminTokenPath: dev.adminTokenPath,
      policy,
      authorityUrl: authority.url,
      urls: { [API_GATEWAY]: gateway.url, [EVENT_SERVICE]: events.url, [BILLING]: billing.url },
      keyFile: (service) => serviceKeyPath(dataDir, service),
      logFile,
      close: () => closeAll(closers),
    };
    if (options.quiet !== true) {
      console.log(
        banner(
          {
            authorityUrl: authority.url,
            gatewayUrl: gateway.url,
            eventServiceUrl: events.url,
            billingUrl: billing.url,
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
