/** Where the demo listens and keeps its data; read from the environment once, at start. */

import { DEFAULT_IDP_PORT, IDP_PORT_VARIABLE } from '@tessera/example-idp';

export interface DemoPorts {
  readonly authority: number;
  readonly gateway: number;
  readonly eventService: number;
  readonly billing: number;
  /** The demo's user IdP (examples/idp); its URL is the issuer of every user token. */
  readonly idp: number;
}

export const DEFAULT_PORTS: DemoPorts = Object.freeze({
  authority: 7700,
  gateway: 7701,
  eventService: 7702,
  billing: 7703,
  idp: DEFAULT_IDP_PORT,
});

/** The environment variable that overrides each port. */
export const PORT_VARIABLES: Readonly<Record<keyof DemoPorts, string>> = Object.freeze({
  authority: 'TESSERA_AUTHORITY_PORT',
  gateway: 'GATEWAY_PORT',
  eventService: 'EVENT_SERVICE_PORT',
  billing: 'BILLING_PORT',
  idp: IDP_PORT_VARIABLE,
});

/**
 * How the demo's hops talk: `mtls` (the default) runs every hop, the authority included, over
 * mutual TLS with X.509-SVIDs from the authority, bearer tokens on top; `http` is the plain-HTTP
 * demo with bearer tokens only, for debugging and for outside tools that speak plain HTTP.
 */
export type DemoTransport = 'mtls' | 'http';
export const TRANSPORT_VARIABLE = 'TESSERA_DEMO_TRANSPORT';
const TRANSPORTS: readonly DemoTransport[] = ['mtls', 'http'];

export const DATA_DIR_VARIABLE = 'TESSERA_DATA_DIR';

/** How often each service rotates its client key, in seconds (at least 60). */
export const KEY_ROTATION_VARIABLE = 'TESSERA_DEMO_KEY_ROTATION_SECONDS';
export const DEFAULT_KEY_ROTATION_SECONDS = 3600;
/** The same directory `tessera authority start --dev` and `tessera service add` use. */
export const DEFAULT_DEMO_DATA_DIR = '.tessera';

/**
 * Ports, data directory and transport from `env`; a malformed value is an error naming its
 * variable.
 */
export function demoSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): {
  dataDir: string;
  ports: DemoPorts;
  transport: DemoTransport;
  keyRotationSeconds: number;
} {
  const port = (name: keyof DemoPorts): number => {
    const variable = PORT_VARIABLES[name];
    const value = env[variable];
    if (value === undefined || value === '') return DEFAULT_PORTS[name];
    const parsed = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
    if (!(parsed >= 1 && parsed <= 65535)) {
      throw new Error(`${variable} must be a port number from 1 to 65535`);
    }
    return parsed;
  };
  const dataDir = env[DATA_DIR_VARIABLE];
  const transport = env[TRANSPORT_VARIABLE];
  if (
    transport !== undefined &&
    transport !== '' &&
    !(TRANSPORTS as readonly string[]).includes(transport)
  ) {
    throw new Error(`${TRANSPORT_VARIABLE} must be one of: ${TRANSPORTS.join(', ')}`);
  }
  const rotation = env[KEY_ROTATION_VARIABLE];
  const keyRotationSeconds =
    rotation === undefined || rotation === ''
      ? DEFAULT_KEY_ROTATION_SECONDS
      : /^\d{2,9}$/.test(rotation) && Number(rotation) >= 60
        ? Number(rotation)
        : Number.NaN;
  if (Number.isNaN(keyRotationSeconds)) {
    throw new Error(`${KEY_ROTATION_VARIABLE} must be a number of seconds, at least 60`);
  }
  return {
    dataDir: dataDir === undefined || dataDir === '' ? DEFAULT_DEMO_DATA_DIR : dataDir,
    ports: {
      authority: port('authority'),
      gateway: port('gateway'),
      eventService: port('eventService'),
      billing: port('billing'),
      idp: port('idp'),
    },
    transport: transport === undefined || transport === '' ? 'mtls' : (transport as DemoTransport),
    keyRotationSeconds,
  };
}
