/**
 * Python services: what protects each FastAPI/Starlette route, and the SE/SV/PH/FS checks read
 * from it. Every project here is written for these tests.
 */
import { after, describe, it } from 'node:test';
import { pythonEndpointRules } from '../src/python/rules/endpoint.ts';
import { pythonHeaderRules } from '../src/python/rules/headers.ts';
import { pythonTokenRules } from '../src/python/rules/tokens.ts';
import type { RuleSet } from '../src/rules/rule.ts';
import { expectOutcomes, removeTempProjects } from './support/project.ts';

after(removeTempProjects);

const RULES: RuleSet = { ...pythonEndpointRules, ...pythonTokenRules, ...pythonHeaderRules };

const SETTINGS = `from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    ledger_token: str
    jwt_key: str


settings = Settings()
`;

/** A dependency checking a shared header token; `compare` is the comparison line. */
const tokenDependency = (compare: string) => `import hmac

from fastapi import Header, HTTPException

from .config import settings


async def require_ledger_token(x_ledger_token: str = Header(default="")):
    ${compare}
        raise HTTPException(status_code=401, detail="bad token")
`;

describe('Python routes: which are authenticated (SE1)', () => {
  it('a route with no dependency is unauthenticated; the evidence is its decorator', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/main.py': `from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.post("/ledger/entries")
async def add_entry(entry: dict):
    return entry
`,
      },
      { SE1: { status: 'FAIL', file: 'svc/main.py', line: 11 } },
    );
  });

  it('a dependency that rejects a bad header token authenticates the route; health stays public', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/config.py': SETTINGS,
        'svc/auth.py': tokenDependency(
          'if not hmac.compare_digest(x_ledger_token.encode(), settings.ledger_token.encode()):',
        ),
        'svc/main.py': `from fastapi import Depends, FastAPI

from .auth import require_ledger_token

app = FastAPI()


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.post("/ledger/entries", dependencies=[Depends(require_ledger_token)])
async def add_entry(entry: dict):
    return entry
`,
      },
      { SE1: 'PASS', SV18: { status: 'PASS', file: 'svc/auth.py', line: 9 } },
    );
  });

  it('an APIRouter included with dependencies protects every route under its prefix, app-wide deps make SE2 pass', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/config.py': SETTINGS,
        'svc/auth.py': tokenDependency(
          'if not hmac.compare_digest(x_ledger_token.encode(), settings.ledger_token.encode()):',
        ),
        'svc/routes/ledger.py': `from fastapi import APIRouter

router = APIRouter(prefix="/ledger")


@router.delete("/{entry_id}")
async def remove(entry_id: int):
    return None
`,
        'svc/main.py': `from fastapi import Depends, FastAPI

from .auth import require_ledger_token
from .routes import ledger

app = FastAPI(dependencies=[Depends(require_ledger_token)])
app.include_router(ledger.router, prefix="/v1")
`,
      },
      { SE1: 'PASS', SE2: { status: 'PASS', file: 'svc/main.py', line: 6 }, SE20: 'PASS' },
    );
  });

  it('a router included without dependencies leaves its routes open; per-route auth fails SE2', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/config.py': SETTINGS,
        'svc/auth.py': tokenDependency(
          'if not hmac.compare_digest(x_ledger_token.encode(), settings.ledger_token.encode()):',
        ),
        'svc/routes/admin.py': `from fastapi import APIRouter

router = APIRouter()


@router.post("/rebuild")
async def rebuild():
    return {"queued": True}
`,
        'svc/main.py': `from fastapi import Depends, FastAPI

from .auth import require_ledger_token
from .routes.admin import router as admin_router

app = FastAPI()
app.include_router(admin_router, prefix="/admin")


@app.get("/balance", dependencies=[Depends(require_ledger_token)])
async def balance():
    return 0
`,
      },
      {
        SE1: { status: 'FAIL', file: 'svc/routes/admin.py', line: 6 },
        SE2: { status: 'FAIL', file: 'svc/main.py', line: 6 },
      },
    );
  });
});

describe('Python middleware (SE2, SE1, SE12)', () => {
  const middleware = (guard: string) => `from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

from .config import settings

OPEN_PATHS = {"/healthz", "/docs"}


class LedgerTokenMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        if request.url.path in OPEN_PATHS:
            return await call_next(request)
${guard}
        presented = request.headers.get("x-ledger-token", "")
        if presented != settings.ledger_token:
            return JSONResponse({"detail": "unauthorized"}, status_code=401)
        return await call_next(request)
`;
  const main = `from fastapi import FastAPI

from .middleware import LedgerTokenMiddleware

app = FastAPI()
app.add_middleware(LedgerTokenMiddleware)


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.post("/entries")
async def add(entry: dict):
    return entry
`;

  it('an authenticating middleware covers every route; its == on the token fails SV18 at the comparison', async () => {
    await expectOutcomes(
      RULES,
      { 'svc/config.py': SETTINGS, 'svc/middleware.py': middleware(''), 'svc/main.py': main },
      {
        SE1: 'PASS',
        SE2: { status: 'PASS', file: 'svc/main.py', line: 6 },
        SV18: { status: 'FAIL', file: 'svc/middleware.py', line: 15 },
        SE12: 'PASS',
      },
    );
  });

  it('a middleware that lets requests through when the token is unset is default-allow (SE12, FS2)', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/config.py': SETTINGS,
        'svc/middleware.py': middleware(
          '        if not settings.ledger_token:\n            return await call_next(request)',
        ),
        'svc/main.py': main,
      },
      {
        SE12: { status: 'FAIL', file: 'svc/middleware.py', line: 13 },
        FS2: 'FAIL',
        SE1: 'PARTIAL',
      },
    );
  });

  it('a middleware guarding only one prefix leaves the other routes to per-route checks (SE2 PARTIAL)', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/config.py': SETTINGS,
        'svc/middleware.py': `from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

from .config import settings


class ServicePrefixGuard(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        if not request.url.path.startswith("/service/"):
            return await call_next(request)
        if request.headers.get("x-ledger-token") != settings.ledger_token:
            return JSONResponse({"detail": "unauthorized"}, status_code=401)
        return await call_next(request)
`,
        'svc/main.py': `from fastapi import FastAPI

from .middleware import ServicePrefixGuard

app = FastAPI()
app.add_middleware(ServicePrefixGuard)


@app.get("/service/stats")
async def stats():
    return {}


@app.get("/reports")
async def reports():
    return []
`,
      },
      { SE2: 'PARTIAL', SE1: { status: 'FAIL', file: 'svc/main.py', line: 14 } },
    );
  });
});

describe('Python JWT verification (SE3-SE7, SV7, SE18, SE19)', () => {
  const verifier = (decode: string) => `import jwt
from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer

from .config import settings

oauth2 = OAuth2PasswordBearer(tokenUrl="/auth/token")


def current_principal(token: str = Depends(oauth2)):
    try:
        return ${decode}
    except jwt.PyJWTError:
        raise HTTPException(status_code=401, detail="invalid token")
`;
  const main = `from fastapi import Depends, FastAPI

from .security import current_principal

app = FastAPI()


@app.get("/statements")
def statements(principal=Depends(current_principal)):
    return []
`;

  it('PyJWT with key and algorithms but no audience or issuer: signature PASS, aud/iss FAIL at the decode', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/config.py': SETTINGS,
        'svc/security.py': verifier('jwt.decode(token, settings.jwt_key, algorithms=["HS256"])'),
        'svc/main.py': main,
      },
      {
        SE1: 'PASS',
        SE3: { status: 'PASS', file: 'svc/security.py', line: 12 },
        SE4: 'PASS',
        SE5: 'PASS',
        SE6: { status: 'FAIL', file: 'svc/security.py', line: 12 },
        SE7: { status: 'FAIL', file: 'svc/security.py', line: 12 },
        SE18: 'PASS',
        SE19: 'FAIL',
        SV7: { status: 'FAIL', file: 'svc/security.py', line: 12 },
        FS2: 'PASS',
      },
    );
  });

  it('audience, issuer and an asymmetric algorithm pass SE6, SE7 and SV7', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/config.py': SETTINGS,
        'svc/security.py': verifier(
          'jwt.decode(token, settings.jwt_key, algorithms=["ES256"], audience="ledger", issuer="https://idp.example")',
        ),
        'svc/main.py': main,
      },
      { SE6: 'PASS', SE7: 'PASS', SV7: 'PASS', SV10: 'PASS', SV11: 'PASS' },
    );
  });

  it('a decode with verify_signature off fails SE4', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/config.py': SETTINGS,
        'svc/security.py': verifier(
          'jwt.decode(token, options={"verify_signature": False}, algorithms=["HS256"])',
        ),
        'svc/main.py': main,
      },
      { SE4: { status: 'FAIL', file: 'svc/security.py', line: 12 } },
    );
  });
});

describe('Python identity headers (PH1, PH4) and token comparisons (SV18)', () => {
  it('a dependency trusting x-user-id from the request fails PH1 and PH4 at the read', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/main.py': `from fastapi import FastAPI, Request

app = FastAPI()


@app.get("/me")
async def me(request: Request):
    owner = request.headers.get("x-user-id")
    return {"owner": owner}
`,
      },
      {
        PH1: { status: 'FAIL', file: 'svc/main.py', line: 8 },
        PH4: { status: 'FAIL', file: 'svc/main.py', line: 8 },
      },
    );
  });

  it('setting x-user-id on an outgoing request is not trusting it', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/main.py': `from fastapi import FastAPI

app = FastAPI()


def forward_headers(user_id: str) -> dict:
    headers = {}
    headers["x-user-id"] = user_id
    return headers
`,
      },
      { PH1: 'N/A' },
    );
  });

  it('a header token compared with != fails SV18 at the comparison', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/config.py': SETTINGS,
        'svc/auth.py': tokenDependency('if x_ledger_token != settings.ledger_token:'),
      },
      { SV18: { status: 'FAIL', file: 'svc/auth.py', line: 9 } },
    );
  });

  it('comparing a token type or scheme with == is not a secret comparison', async () => {
    await expectOutcomes(
      RULES,
      {
        'svc/auth.py': `from fastapi import HTTPException

ACCESS_TOKEN_TYPE = "access"


def check(payload: dict, scheme: str):
    if scheme.lower() != "bearer":
        raise HTTPException(status_code=401)
    if payload.get("token_type") != ACCESS_TOKEN_TYPE:
        raise HTTPException(status_code=401)
`,
      },
      { SV18: 'N/A' },
    );
  });
});

describe('Annotated dependency aliases', () => {
  it('`user: CurrentUser` with CurrentUser = Annotated[..., Depends(...)] protects the route', async () => {
    const files = (annotation: string) => ({
      'svc/config.py': SETTINGS,
      'svc/auth.py': tokenDependency(
        'if not hmac.compare_digest(x_ledger_token.encode(), settings.ledger_token.encode()):',
      ),
      'svc/deps.py': `from typing import Annotated

from fastapi import Depends

from .auth import require_ledger_token

LedgerCaller = Annotated[None, Depends(require_ledger_token)]
`,
      'svc/main.py': `from fastapi import FastAPI

from .deps import LedgerCaller

app = FastAPI()


@app.post("/ledger/entries")
async def add_entry(entry: dict, caller: ${annotation}):
    return entry
`,
    });
    await expectOutcomes(RULES, files('LedgerCaller'), { SE1: 'PASS' });
    await expectOutcomes(RULES, files('str'), {
      SE1: { status: 'FAIL', file: 'svc/main.py', line: 8 },
    });
  });
});
