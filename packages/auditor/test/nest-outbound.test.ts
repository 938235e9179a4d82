/**
 * NestJS outbound HTTP: `HttpModule.register` (or `registerAsync`'s factory) configures the
 * axios instance, and calls through an injected `HttpService` are axios calls through it.
 */
import { after, describe, it } from 'node:test';
import type { RuleSet } from '../src/rules/rule.ts';
import { serviceClientRules } from '../src/rules/service-client.ts';
import { expectOutcomes, removeTempProjects, type Files } from './support/project.ts';

after(removeTempProjects);

const RULES: RuleSet = serviceClientRules;

const client = (config: string): string => `import { Injectable } from '@nestjs/common';
import { HttpService } from '@nestjs/axios';
import { firstValueFrom } from 'rxjs';

@Injectable()
export class StockClient {
  constructor(private readonly http: HttpService) {}

  async reserve(sku: string, correlationId: string) {
    const response = await firstValueFrom(
      this.http.post(\`\${process.env.STOCK_URL ?? 'https://stock.internal'}/reservations\`, { sku }, ${config}),
    );
    return response.data;
  }
}
`;

const module = (registration: string): string => `import { Module } from '@nestjs/common';
import { HttpModule } from '@nestjs/axios';
import { StockClient } from './stock.client';

@Module({
  imports: [${registration}],
  providers: [StockClient],
})
export class StockModule {}
`;

const project = (registration: string, config: string): Files => ({
  'src/stock.module.ts': module(registration),
  'src/stock.client.ts': client(config),
});

describe('NestJS HttpService', () => {
  it('HttpModule.register timeout covers calls through HttpService', () =>
    expectOutcomes(
      RULES,
      project(
        'HttpModule.register({ timeout: 4000 })',
        "{ headers: { 'x-correlation-id': correlationId } }",
      ),
      { SC11: 'PASS', SC10: 'PASS' },
    ));

  it('no timeout on the module or the call', () =>
    expectOutcomes(RULES, project('HttpModule', '{}'), {
      SC11: { status: 'FAIL', file: 'src/stock.client.ts', line: 11 },
      SC10: 'FAIL',
    }));

  it('registerAsync reads the options its factory returns', () =>
    expectOutcomes(
      RULES,
      project(
        `HttpModule.registerAsync({
      useFactory: () => ({ timeout: Number(process.env.STOCK_TIMEOUT_MS ?? 3000), maxRedirects: 0 }),
    })`,
        '{}',
      ),
      { SC11: 'PASS' },
    ));

  it('a static shared token header is a hard-coded credential when written in the code', () =>
    expectOutcomes(
      RULES,
      project(
        "HttpModule.register({ timeout: 4000, headers: { 'x-internal-token': 'ledger-7f3a9c2e4b1d8e6f' } })",
        '{}',
      ),
      { SC2: 'FAIL' },
    ));
});
