/**
 * Python services: Starlette middleware stacks, prefix-only guards, refusals logged one by one,
 * opaque tokens checked remotely, identity headers, and targets named in deployment files.
 * Every project here is written for these tests.
 */
import { after, describe, it } from 'node:test';
import { pythonClientRules } from '../src/python/rules/outbound.ts';
import { pythonEndpointRules } from '../src/python/rules/endpoint.ts';
import { pythonHeaderRules } from '../src/python/rules/headers.ts';
import { pythonTokenRules } from '../src/python/rules/tokens.ts';
import type { RuleSet } from '../src/rules/rule.ts';
import { expectOutcomes, removeTempProjects } from './support/project.ts';

after(removeTempProjects);

const RULES: RuleSet = {
  ...pythonEndpointRules,
  ...pythonTokenRules,
  ...pythonHeaderRules,
  ...pythonClientRules,
};

/** A Starlette app whose middleware asks an account service whether a session key is valid. */
const REMOTE_CHECK = {
  'gw/accounts.py': `import httpx

ACCOUNTS = httpx.AsyncClient(base_url="http://accounts:9000", timeout=3.0)


async def lookup_session(key: str):
    response = await ACCOUNTS.post("/sessions/lookup", json={"key": key})
    if response.status_code != 200:
        return None
    return response.json()
`,
  'gw/auth.py': `import logging

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

from .accounts import lookup_session

log = logging.getLogger("gw.auth")


def session_key(request):
    value = request.headers.get("authorization", "")
    return value.removeprefix("Session ").strip() or None


class SessionMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        if request.url.path == "/ping":
            return await call_next(request)
        key = session_key(request)
        if key is None:
            return JSONResponse({"error": "unauthenticated"}, status_code=401)
        account = await lookup_session(key)
        if account is None:
            log.warning("unknown session from %s", request.client.host)
            return JSONResponse({"error": "unauthenticated"}, status_code=401)
        request.state.account = account
        return await call_next(request)
`,
  'gw/app.py': `from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route

from .auth import SessionMiddleware


async def ping(request):
    return JSONResponse({"ok": True})


async def orders(request):
    return JSONResponse([])


app = Starlette(
    routes=[Route("/ping", ping), Route("/orders", orders)],
    middleware=[Middleware(SessionMiddleware)],
)
`,
};

describe('Starlette middleware stacks', () => {
  it('middleware=[Middleware(...)] authenticates every route; the skipped probe stays public', async () => {
    await expectOutcomes(RULES, REMOTE_CHECK, {
      SE1: 'PASS',
      SE2: { status: 'PASS', file: 'gw/app.py', line: 19 },
      SE12: 'PASS',
      FS2: 'PASS',
    });
  });

  it('an opaque key checked by another service is not cryptographic verification (SE3 PARTIAL)', async () => {
    await expectOutcomes(RULES, REMOTE_CHECK, {
      SE3: { status: 'PARTIAL', file: 'gw/accounts.py', line: 7 },
    });
  });

  it('one refusal logged and one silent is SE11 PARTIAL, with the silent one as evidence', async () => {
    await expectOutcomes(RULES, REMOTE_CHECK, {
      SE11: { status: 'PARTIAL', file: 'gw/auth.py', line: 22 },
      SE22: 'PARTIAL',
    });
  });

  it('a service only end users call has no service caller to identify or allowlist', async () => {
    await expectOutcomes(RULES, REMOTE_CHECK, { SE8: 'N/A', SE10: 'N/A', SE13: 'N/A' });
  });
});

describe('guards that cover part of the service', () => {
  const guard = (condition: string) => `from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

from .config import settings


class SyncGuard(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        if request.url.path.startswith("/sync"):
            expected = settings.sync_token
            presented = request.headers.get("x-sync-token")
            if ${condition}:
                return JSONResponse({"error": "forbidden"}, status_code=403)
        return await call_next(request)
`;
  const files = (condition: string) => ({
    'svc/config.py':
      'from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n    sync_token: str = ""\n\n\nsettings = Settings()\n',
    'svc/guard.py': guard(condition),
    'svc/main.py': `from fastapi import FastAPI

from .guard import SyncGuard

app = FastAPI()
app.add_middleware(SyncGuard)


@app.post("/sync/pull")
async def pull():
    return {}


@app.get("/catalogue")
async def catalogue():
    return []
`,
  });

  it('a guard wrapped in `if path.startswith(prefix)` covers only that prefix', async () => {
    await expectOutcomes(RULES, files('presented != expected'), {
      SE1: { status: 'FAIL', file: 'svc/main.py', line: 14 },
      SE2: 'PARTIAL',
      SV18: { status: 'FAIL', file: 'svc/guard.py', line: 12 },
    });
  });

  it('`if expected and presented != expected` refuses only when configured (SE12, FS2 FAIL)', async () => {
    await expectOutcomes(RULES, files('expected and presented != expected'), {
      SE12: { status: 'FAIL', file: 'svc/guard.py', line: 12 },
      FS2: 'FAIL',
      FS1: 'PASS',
    });
  });
});

describe('identity headers behind authentication (PH1) and deployed targets (SC8)', () => {
  it('x-user-id read after the service token is checked is PARTIAL, not FAIL', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/deps.py': `import hmac

from fastapi import Header, HTTPException

from .config import SETTINGS


def acting_user(x_service_token: str = Header(), x_user_id: str = Header()):
    if not hmac.compare_digest(x_service_token, SETTINGS["service_token"]):
        raise HTTPException(status_code=401)
    return x_user_id
`,
        'svc/config.py': 'import os\n\nSETTINGS = {"service_token": os.environ["SERVICE_TOKEN"]}\n',
        'svc/main.py': `from fastapi import Depends, FastAPI

from .deps import acting_user

app = FastAPI()


@app.get("/internal/notes")
def notes(user: str = Depends(acting_user)):
    return []
`,
      },
      { PH1: { status: 'PARTIAL', file: 'svc/deps.py', line: 8 } },
    );
  });

  it('an identity header set downstream from the verified caller passes PH1', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/client.py': `import httpx


async def fetch_notes(user_id: str):
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get("https://notes.internal/notes", headers={"X-User-ID": user_id})
`,
      },
      { PH1: { status: 'PASS', file: 'svc/client.py', line: 6 } },
    );
  });

  it('a compose file giving the target URL as plain http fails SC8 at that line', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/settings.py':
          'from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n    ledger_url: str = "http://localhost:7000"\n',
        'svc/client.py': `import httpx

from .settings import Settings


def balance():
    return httpx.get(f"{Settings().ledger_url}/balance", timeout=2)
`,
        'docker-compose.yml':
          'services:\n  svc:\n    environment:\n      LEDGER_URL: http://ledger:7000\n',
      },
      { SC8: { status: 'FAIL', file: 'docker-compose.yml', line: 4 } },
    );
  });
});
