/**
 * How long the service's certificates live, when the deployment issues them: cert-manager's
 * csi-driver-spiffe (`spiffe.csi.cert-manager.io/duration`, one hour by default), the SPIFFE CSI
 * driver of SPIRE (`csi.spiffe.io`, SVIDs of one hour by default), and cert-manager
 * `Certificate` resources (`spec.duration`, 90 days by default). A certificate that lives hours
 * is the checklist's alternative to revocation (SV4).
 */
import { evidenceAtLine } from '../ast/syntax.ts';
import type { Evidence } from '../model.ts';
import type { AuditContext } from './context.ts';

export interface CertificateLifetime {
  readonly seconds: number;
  readonly evidence: Evidence;
  /** Where the lifetime comes from, for sentences: "csi-driver-spiffe". */
  readonly issuer: string;
}

const HOUR = 3600;
const MANIFEST = /\.(ya?ml)$/i;

/** Go duration strings as Kubernetes writes them: `1h`, `20m`, `1h30m`, `2160h`. */
export function goDurationSeconds(text: string): number | undefined {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text.trim()) return undefined;
  let seconds = 0;
  for (const [, amount, unit] of parts) {
    seconds += Number(amount) * (unit === 'h' ? HOUR : unit === 'm' ? 60 : 1);
  }
  return seconds;
}

/** The certificate lifetimes the deployment manifests set (shortest first). */
export function certificateLifetimes(ctx: AuditContext): readonly CertificateLifetime[] {
  return ctx.memo('certificate.lifetimes', () => {
    const found: CertificateLifetime[] = [];
    for (const file of ctx.project.textFiles) {
      if (!MANIFEST.test(file.path)) continue;
      const lines = file.text.split('\n');
      const at = (index: number) => evidenceAtLine(file.path, file.text, index + 1);
      const driver = lines.findIndex((l) => /driver:\s*["']?spiffe\.csi\.cert-manager\.io/.test(l));
      if (driver >= 0) {
        const duration = lines.findIndex((l) => l.includes('spiffe.csi.cert-manager.io/duration:'));
        const value =
          duration >= 0
            ? goDurationSeconds(
                /duration:\s*["']?([\dhms.]+)/.exec(lines[duration] ?? '')?.[1] ?? '',
              )
            : HOUR;
        if (value !== undefined) {
          found.push({
            seconds: value,
            evidence: at(duration >= 0 ? duration : driver),
            issuer: 'csi-driver-spiffe',
          });
        }
      }
      const spire = lines.findIndex((l) => /driver:\s*["']?csi\.spiffe\.io/.test(l));
      if (spire >= 0) {
        found.push({ seconds: HOUR, evidence: at(spire), issuer: 'the SPIFFE CSI driver (SPIRE)' });
      }
      if (/kind:\s*Certificate\b/.test(file.text) && file.text.includes('cert-manager.io/')) {
        const duration = lines.findIndex((l) => /^\s+duration:\s*["']?[\dhms.]+/.test(l));
        const value =
          duration >= 0
            ? goDurationSeconds(
                /duration:\s*["']?([\dhms.]+)/.exec(lines[duration] ?? '')?.[1] ?? '',
              )
            : 90 * 24 * HOUR;
        if (value !== undefined) {
          found.push({
            seconds: value,
            evidence: at(
              Math.max(
                duration,
                lines.findIndex((l) => /kind:\s*Certificate\b/.test(l)),
              ),
            ),
            issuer: 'cert-manager',
          });
        }
      }
    }
    return found.sort((a, b) => a.seconds - b.seconds);
  });
}
