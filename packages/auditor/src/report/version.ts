import manifest from '../../package.json' with { type: 'json' };

/** The auditor's own version, as reports name it (`tessera audit 0.1.0`). */
export const AUDITOR_VERSION: string = manifest.version;
