/** Python services: outbound httpx/requests calls (SC) and secrets (SM, TM4/TM5). New code only. */
import { after, describe, it } from 'node:test';
import { pythonClientRules } from '../src/python/rules/outbound.ts';
import { pythonSecretsRules } from '../src/python/rules/secrets.ts';
import { pythonTokenRules } from '../src/python/rules/tokens.ts';
import type { RuleSet } from '../src/rules/rule.ts';
import { expectOutcomes, removeTempProjects } from './support/project.ts';

after(removeTempProjects);

const RULES: RuleSet = { ...pythonClientRules, ...pythonSecretsRules, ...pythonTokenRules };

describe('Python outbound clients (SC)', () => {
  it('verify=False on an httpx client fails SC13 at the argument; httpx default timeout passes SC11', async () => {
    await expectOutcomes(
      RULES,
      {
        'worker/pricing.py': `import httpx

client = httpx.AsyncClient(
    base_url="https://pricing.internal",
    verify=False,
)


async def quote(sku: str) -> dict:
    response = await client.get(f"/quotes/{sku}")
    return response.json()
`,
      },
      {
        SC13: { status: 'FAIL', file: 'worker/pricing.py', line: 5 },
        SC11: 'PASS',
        SC14: 'PASS',
        SC15: 'N/A',
      },
    );
  });

  it('requests without timeout= fails SC11 at the call; with one it passes', async () => {
    const call = (extra: string) => `import requests


def fetch_rates():
    return requests.get("https://rates.internal/v2/today"${extra}).json()
`;
    await expectOutcomes(
      RULES,
      { 'rates.py': call('') },
      {
        SC11: { status: 'FAIL', file: 'rates.py', line: 5 },
        SC13: 'PASS',
      },
    );
    await expectOutcomes(RULES, { 'rates.py': call(', timeout=3') }, { SC11: 'PASS' });
  });

  it("timeout=None switches httpx's default off", async () => {
    await expectOutcomes(
      RULES,
      {
        'client.py': `import httpx

slow = httpx.Client(timeout=None)


def report():
    return slow.post("https://reports.internal/run", json={})
`,
      },
      { SC11: { status: 'FAIL', file: 'client.py', line: 3 } },
    );
  });

  it('tenacity retries without a breaker fail SC12; pybreaker passes', async () => {
    const client = (wrapper: string, decorator: string) => `import httpx
${wrapper}

${decorator}
def ship(order: dict):
    return httpx.post("https://shipping.internal/orders", json=order, timeout=2)
`;
    await expectOutcomes(
      RULES,
      {
        'ship.py': client(
          'from tenacity import retry, stop_after_attempt',
          '@retry(stop=stop_after_attempt(3))',
        ),
      },
      { SC12: { status: 'FAIL', file: 'ship.py', line: 4 } },
    );
    await expectOutcomes(
      RULES,
      {
        'ship.py': client(
          'import pybreaker\n\nbreaker = pybreaker.CircuitBreaker(fail_max=5)',
          '@breaker',
        ),
      },
      { SC12: 'PASS' },
    );
  });

  it('a static key header fails SC1 at the header; forwarding traceparent passes SC10', async () => {
    await expectOutcomes(
      RULES,
      {
        'stock.py': `import os

import httpx

STOCK_KEY = os.environ["STOCK_SERVICE_KEY"]


async def reserve(sku: str, traceparent: str):
    async with httpx.AsyncClient(timeout=2.0) as http:
        return await http.post(
            "https://stock.internal/reserve",
            json={"sku": sku},
            headers={"X-Api-Key": STOCK_KEY, "traceparent": traceparent},
        )
`,
      },
      {
        SC1: { status: 'FAIL', file: 'stock.py', line: 13 },
        SC3: 'FAIL',
        SC10: 'PASS',
        SC9: 'FAIL',
      },
    );
  });

  it('plain http:// to another host fails SC8; loopback does not count', async () => {
    await expectOutcomes(
      RULES,
      {
        'notify.py': `import httpx

NOTIFY_URL = "http://notifications.prod.svc:8080"


def send(msg: str):
    return httpx.post(NOTIFY_URL + "/send", json={"msg": msg})
`,
      },
      { SC8: { status: 'FAIL', file: 'notify.py', line: 3 } },
    );
    await expectOutcomes(
      RULES,
      {
        'notify.py':
          'import httpx\n\n\ndef send():\n    return httpx.post("http://127.0.0.1:9000/send")\n',
      },
      { SC8: 'N/A' },
    );
  });

  it('fetching a JWKS is not a service call', async () => {
    await expectOutcomes(
      RULES,
      {
        'keys.py': `import httpx


def load_jwks(url: str) -> dict:
    return httpx.get(url, timeout=2).json()
`,
      },
      { SC1: 'N/A', SC12: 'N/A' },
    );
  });
});

describe('Python secrets (SM1-SM3, SM5, TM4, TM5)', () => {
  it('os.getenv with a literal default fails SM2 at the call; without one it passes', async () => {
    await expectOutcomes(
      RULES,
      {
        'cfg.py':
          'import os\n\nSIGNING_SECRET = os.getenv("SIGNING_SECRET", "s3cr3t-fallback-value")\n',
      },
      { SM2: { status: 'FAIL', file: 'cfg.py', line: 3 }, SM1: 'FAIL', SM3: 'FAIL' },
    );
    await expectOutcomes(
      RULES,
      { 'cfg.py': 'import os\n\nSIGNING_SECRET = os.environ["SIGNING_SECRET"]\n' },
      { SM2: 'PASS', SM3: 'FAIL' },
    );
  });

  it('a pydantic settings field with a literal default fails SM2 at the field', async () => {
    await expectOutcomes(
      RULES,
      {
        'settings.py': `from pydantic_settings import BaseSettings


class AppSettings(BaseSettings):
    service_name: str = "ledger"
    webhook_secret: str = "whsec-local-development-only"
    database_url: str = "postgresql://ledger:ledger-pw-2024@db:5432/ledger"
`,
      },
      { SM2: { status: 'FAIL', file: 'settings.py', line: 6 } },
    );
  });

  it('a connection string with a password in the code fails SM2', async () => {
    await expectOutcomes(
      RULES,
      { 'db.py': 'DSN = "postgresql://ledger:ledger-pw-2024@db:5432/ledger"\n' },
      { SM2: { status: 'FAIL', file: 'db.py', line: 1 } },
    );
  });

  it('a secrets manager read passes SM1', async () => {
    await expectOutcomes(
      RULES,
      {
        'secrets_client.py': `import boto3

client = boto3.client("secretsmanager")
webhook_secret = client.get_secret_value(SecretId="ledger/webhook")["SecretString"]
`,
      },
      { SM1: { status: 'PASS', file: 'secrets_client.py', line: 4 } },
    );
  });

  it('logging a token fails SM5 and TM4; logging its length does not', async () => {
    const log = (arg: string) => `import logging

logger = logging.getLogger(__name__)


def accept(access_token: str):
    logger.info("accepted %s", ${arg})
`;
    await expectOutcomes(
      RULES,
      { 'log.py': log('access_token') },
      {
        SM5: { status: 'FAIL', file: 'log.py', line: 7 },
        TM4: 'FAIL',
      },
    );
    await expectOutcomes(
      RULES,
      { 'log.py': log('len(access_token)') },
      { SM5: 'PASS', TM4: 'PASS' },
    );
  });

  it('a token read from the query string fails TM5 at the read', async () => {
    await expectOutcomes(
      RULES,
      {
        'app.py': `from fastapi import FastAPI, Request

app = FastAPI()


@app.get("/feed")
async def feed(request: Request):
    token = request.query_params.get("access_token")
    return {"ok": token is not None}
`,
      },
      { TM5: { status: 'FAIL', file: 'app.py', line: 8 } },
    );
  });
});
