/** Where the demo listens and keeps its data; read from the environment once, at start. */

export interface DemoPorts {
  readonly authority: number;
  readonly gateway: number;
  readonly eventService: number;
  readonly billing: number;
}

export const DEFAULT_PORTS: DemoPorts = Object.freeze({
  authority: 7700,
  gateway: 7701,
  eventService: 7702,
  billing: 7703,
});

/** The environment variable that overrides each port. */
export const PORT_VARIABLES: Readonly<Record<keyof DemoPorts, string>> = Object.freeze({
  authority: 'TESSERA_AUTHORITY_PORT',
  gateway: 'GATEWAY_PORT',
  eventService: 'EVENT_SERVICE_PORT',
  billing: 'BILLING_PORT',
});

export const DATA_DIR_VARIABLE = 'TESSERA_DATA_DIR';
/** The same directory `tessera authority start --dev` and `tessera service add` use. */
export const DEFAULT_DEMO_DATA_DIR = '.tessera';

/** Ports and data directory from `env`; a malformed port is an error naming its variable. */
export function demoSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): {
  dataDir: string;
  ports: DemoPorts;
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
  return {
    dataDir: dataDir === undefined || dataDir === '' ? DEFAULT_DEMO_DATA_DIR : dataDir,
    ports: {
      authority: port('authority'),
      gateway: port('gateway'),
      eventService: port('eventService'),
      billing: port('billing'),
    },
  };
}
