export { auditDirectory, passRateOf, type AuditOptions } from './audit.ts';
export { CATALOG } from './catalog/checks.ts';
export * from './model.ts';
