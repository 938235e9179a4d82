/**
 * The NestJS adapter: controllers × route decorators become routes, and guards (`APP_GUARD`,
 * `useGlobalGuards`, `@UseGuards`), `@Public()` flags, module middleware and passport-jwt
 * strategies decide what protects each one.
 */
import { after, describe, test } from 'node:test';
import { check, cleanUp, type Case, type Files } from './inbound-harness.ts';

after(cleanUp);

const MAIN = `import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

async function bootstrap() {
  const app = await NestFactory.create(AppModule);
  app.setGlobalPrefix('api', { exclude: ['health'] });
  await app.listen(3000);
}
bootstrap();
`;

const PUBLIC_DECORATOR = `import { SetMetadata } from '@nestjs/common';
export const IS_PUBLIC_KEY = 'isPublic';
export const Public = () => SetMetadata(IS_PUBLIC_KEY, true);
`;

const PUBLIC_AWARE_GUARD = `import { ExecutionContext, Injectable, Logger, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { IS_PUBLIC_KEY } from './public.decorator';

@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  private readonly logger = new Logger(JwtAuthGuard.name);

  constructor(private readonly reflector: Reflector) {
    super();
  }

  canActivate(context: ExecutionContext) {
    const open = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (open) return true;
    return super.canActivate(context);
  }

  handleRequest(err: unknown, user: unknown, info: unknown) {
    if (err || !user) {
      this.logger.warn({ reason: String(info) }, 'bearer token refused');
      throw new UnauthorizedException();
    }
    return user;
  }
}
`;

const strategy = (options: string): string => `import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { passportJwtSecret } from 'jwks-rsa';

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy) {
  constructor() {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKeyProvider: passportJwtSecret({ jwksUri: 'https://login.example.net/keys', cache: true }),
      algorithms: ['RS256'],
${options}
    });
  }

  validate(claims: { sub: string; org: string }) {
    return { memberId: claims.sub, org: claims.org };
  }
}
`;

const FULL_STRATEGY = strategy(`      issuer: 'https://login.example.net/',
      audience: 'ledger-api',`);

const appModule = (
  providers: string,
  imports = '',
): string => `import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtAuthGuard } from './auth/jwt-auth.guard';
import { JwtStrategy } from './auth/jwt.strategy';
import { LedgerController } from './ledger/ledger.controller';
import { StatusController } from './status.controller';
${imports}
@Module({
  controllers: [LedgerController, StatusController],
  providers: [${providers}],
})
export class AppModule {}
`;

const LEDGER = `import { Body, Controller, Get, Param, Post } from '@nestjs/common';

@Controller('ledger')
export class LedgerController {
  @Get(':id')
  entry(@Param('id') id: string) {
    return { id };
  }

  @Post('entries')
  book(@Body() body: { amount: number }) {
    return body;
  }
}
`;

const STATUS = `import { Controller, Get } from '@nestjs/common';
import { Public } from './auth/public.decorator';

@Controller('health')
export class StatusController {
  @Public()
  @Get()
  live() {
    return { status: 'up' };
  }
}
`;

const base: Files = {
  'src/main.ts': MAIN,
  'src/auth/public.decorator.ts': PUBLIC_DECORATOR,
  'src/auth/jwt-auth.guard.ts': PUBLIC_AWARE_GUARD,
  'src/auth/jwt.strategy.ts': FULL_STRATEGY,
  'src/ledger/ledger.controller.ts': LEDGER,
  'src/status.controller.ts': STATUS,
};

const guards: Case[] = [
  {
    name: 'APP_GUARD with a passport-jwt strategy covers every controller',
    files: {
      ...base,
      'src/app.module.ts': appModule('JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }'),
    },
    expect: { SE1: 'PASS', SE2: 'PASS', SE3: 'PASS', SE6: 'PASS', SE7: 'PASS', SE20: 'PASS' },
    at: { SE2: { file: 'src/app.module.ts', line: 'provide: APP_GUARD' } },
  },
  {
    name: 'no guard at all: every route is open',
    files: { ...base, 'src/app.module.ts': appModule('JwtStrategy') },
    expect: { SE1: 'FAIL', SE2: 'FAIL' },
    at: { SE1: { file: 'src/ledger/ledger.controller.ts', line: "@Post('entries')" } },
  },
  {
    name: 'useGlobalGuards in main.ts covers every controller',
    files: {
      ...base,
      'src/main.ts': MAIN.replace(
        "  app.setGlobalPrefix('api', { exclude: ['health'] });",
        `  app.setGlobalPrefix('api', { exclude: ['health'] });
  app.useGlobalGuards(new JwtAuthGuard(app.get(Reflector)));`,
      ).replace(
        "import { AppModule } from './app.module';",
        `import { Reflector } from '@nestjs/core';
import { AppModule } from './app.module';
import { JwtAuthGuard } from './auth/jwt-auth.guard';`,
      ),
      'src/app.module.ts': appModule('JwtStrategy'),
    },
    expect: { SE1: 'PASS', SE2: 'PASS' },
  },
  {
    name: '@UseGuards on one controller leaves the other controller open',
    files: {
      ...base,
      'src/app.module.ts': appModule(
        'JwtStrategy',
        "import { RatesController } from './rates.controller';",
      ).replace(
        'controllers: [LedgerController, StatusController]',
        'controllers: [LedgerController, StatusController, RatesController]',
      ),
      'src/ledger/ledger.controller.ts': LEDGER.replace(
        "import { Body, Controller, Get, Param, Post } from '@nestjs/common';",
        `import { Body, Controller, Get, Param, Post, UseGuards } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';`,
      ).replace("@Controller('ledger')", "@UseGuards(AuthGuard('jwt'))\n@Controller('ledger')"),
      'src/rates.controller.ts': `import { Controller, Put, Body } from '@nestjs/common';

@Controller('rates')
export class RatesController {
  @Put()
  replace(@Body() rates: Record<string, number>) {
    return rates;
  }
}
`,
    },
    expect: { SE1: 'FAIL', SE2: 'FAIL', SE12: 'FAIL' },
    at: {
      SE1: { file: 'src/rates.controller.ts', line: '@Put()' },
      SE12: { file: 'src/rates.controller.ts', line: '@Put()' },
    },
  },
  {
    name: '@UseGuards on every method authenticates route by route',
    files: {
      ...base,
      'src/app.module.ts': appModule('JwtStrategy'),
      'src/ledger/ledger.controller.ts': LEDGER.replace(
        "import { Body, Controller, Get, Param, Post } from '@nestjs/common';",
        `import { Body, Controller, Get, Param, Post, UseGuards } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';`,
      ).replace(/ {2}@(Get|Post)\(/g, "  @UseGuards(AuthGuard('jwt'))\n  @$1("),
    },
    expect: { SE1: 'PASS', SE2: 'PARTIAL' },
  },
];

const publicRoutes: Case[] = [
  {
    name: '@Public() honoured by the global guard opens that route',
    files: {
      ...base,
      'src/app.module.ts': appModule('JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }'),
      'src/ledger/ledger.controller.ts': LEDGER.replace(
        "import { Body, Controller, Get, Param, Post } from '@nestjs/common';",
        `import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { Public } from '../auth/public.decorator';`,
      ).replace("  @Post('entries')", "  @Public()\n  @Post('entries')"),
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/ledger/ledger.controller.ts', line: "@Post('entries')" } },
  },
  {
    name: '@Public() on a guard that never reads it changes nothing',
    files: {
      ...base,
      'src/app.module.ts': appModule(
        "JwtStrategy, { provide: APP_GUARD, useClass: AuthGuard('jwt') }",
      ).replace(
        "import { JwtAuthGuard } from './auth/jwt-auth.guard';",
        "import { AuthGuard } from '@nestjs/passport';",
      ),
      'src/ledger/ledger.controller.ts': LEDGER.replace(
        "import { Body, Controller, Get, Param, Post } from '@nestjs/common';",
        `import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { Public } from '../auth/public.decorator';`,
      ).replace("  @Post('entries')", "  @Public()\n  @Post('entries')"),
    },
    expect: { SE1: 'PASS' },
  },
];

const markerGuard = `import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';

@Injectable()
export class GatewayGuard extends AuthGuard('jwt') implements CanActivate {
  canActivate(context: ExecutionContext) {
    const request = context.switchToHttp().getRequest();
    if (request.headers['x-internal-request'] === 'true') {
      return true;
    }
    return super.canActivate(context);
  }
}
`;

const customGuards: Case[] = [
  {
    name: 'a guard that trusts a marker header before the strategy runs',
    files: {
      ...base,
      'src/auth/gateway.guard.ts': markerGuard,
      'src/app.module.ts': appModule(
        'JwtStrategy, { provide: APP_GUARD, useClass: GatewayGuard }',
        "import { GatewayGuard } from './auth/gateway.guard';",
      ),
    },
    expect: { SE1: 'FAIL', SE3: 'FAIL' },
    at: {
      SE1: { file: 'src/auth/gateway.guard.ts', line: "request.headers['x-internal-request']" },
    },
  },
  {
    name: 'a guard comparing an API key header with configuration',
    files: {
      ...base,
      'src/auth/api-key.guard.ts': `import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(private readonly config: ConfigService) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    const presented = request.headers['x-api-key'];
    if (presented !== this.config.get('LEDGER_API_KEY')) {
      throw new ForbiddenException();
    }
    return true;
  }
}
`,
      'src/app.module.ts': appModule(
        '{ provide: APP_GUARD, useClass: ApiKeyGuard }',
        "import { ApiKeyGuard } from './auth/api-key.guard';",
      ),
    },
    expect: { SE1: 'PASS', SE3: 'FAIL' },
  },
];

const middleware: Case[] = [
  {
    name: 'module middleware for every route verifies a JWT',
    files: {
      ...base,
      'src/auth/bearer.middleware.ts': `import { Injectable, NestMiddleware, UnauthorizedException } from '@nestjs/common';
import { verify } from 'jsonwebtoken';

@Injectable()
export class BearerMiddleware implements NestMiddleware {
  use(req: { headers: Record<string, string> }, _res: unknown, next: () => void) {
    const token = (req.headers.authorization ?? '').replace('Bearer ', '');
    try {
      verify(token, process.env.LEDGER_PUBLIC_KEY ?? '', { algorithms: ['ES256'], audience: 'ledger', issuer: 'https://sts.example.net' });
    } catch {
      throw new UnauthorizedException();
    }
    next();
  }
}
`,
      'src/app.module.ts': `import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { BearerMiddleware } from './auth/bearer.middleware';
import { LedgerController } from './ledger/ledger.controller';
import { StatusController } from './status.controller';

@Module({ controllers: [LedgerController, StatusController] })
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer
      .apply(BearerMiddleware)
      .exclude({ path: 'health', method: RequestMethod.GET })
      .forRoutes({ path: '*', method: RequestMethod.ALL });
  }
}
`,
    },
    expect: { SE1: 'PASS', SE2: 'PASS', SE3: 'PASS' },
  },
  {
    name: 'module middleware bound to one controller leaves another open',
    files: {
      ...base,
      'src/auth/bearer.middleware.ts': `import { Injectable, NestMiddleware, UnauthorizedException } from '@nestjs/common';
import { verify } from 'jsonwebtoken';

@Injectable()
export class BearerMiddleware implements NestMiddleware {
  use(req: { headers: Record<string, string> }, _res: unknown, next: () => void) {
    try {
      verify(req.headers.authorization ?? '', process.env.LEDGER_PUBLIC_KEY ?? '');
    } catch {
      throw new UnauthorizedException();
    }
    next();
  }
}
`,
      'src/app.module.ts': `import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { BearerMiddleware } from './auth/bearer.middleware';
import { LedgerController } from './ledger/ledger.controller';
import { StatusController } from './status.controller';
import { ExportController } from './export.controller';

@Module({ controllers: [LedgerController, StatusController, ExportController] })
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer.apply(BearerMiddleware).forRoutes(LedgerController);
  }
}
`,
      'src/export.controller.ts': `import { Controller, Get } from '@nestjs/common';

@Controller('exports')
export class ExportController {
  @Get('monthly')
  monthly() {
    return [];
  }
}
`,
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/export.controller.ts', line: "@Get('monthly')" } },
  },
];

const jwtOptions: Case[] = [
  {
    name: 'passport-jwt strategy without audience or issuer',
    files: {
      ...base,
      'src/auth/jwt.strategy.ts': strategy(''),
      'src/app.module.ts': appModule('JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }'),
    },
    expect: { SE1: 'PASS', SE6: 'FAIL', SE7: 'FAIL' },
    at: { SE7: { file: 'src/auth/jwt.strategy.ts', line: 'super({' } },
  },
  {
    name: 'passport-jwt strategy that ignores expiry',
    files: {
      ...base,
      'src/auth/jwt.strategy.ts': strategy(`      issuer: 'https://login.example.net/',
      audience: 'ledger-api',
      ignoreExpiration: true,`),
      'src/app.module.ts': appModule('JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }'),
    },
    expect: { SE5: 'FAIL' },
  },
  {
    name: 'JwtService.verifyAsync in a guard with the module secret',
    files: {
      ...base,
      'src/auth/token.guard.ts': `import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';

@Injectable()
export class TokenGuard implements CanActivate {
  constructor(private readonly jwtService: JwtService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest();
    const [scheme, token] = (request.headers.authorization ?? '').split(' ');
    if (scheme !== 'Bearer' || !token) throw new UnauthorizedException();
    try {
      request.principal = await this.jwtService.verifyAsync(token);
    } catch {
      throw new UnauthorizedException();
    }
    return true;
  }
}
`,
      'src/app.module.ts': appModule(
        '{ provide: APP_GUARD, useClass: TokenGuard }',
        `import { JwtModule } from '@nestjs/jwt';
import { TokenGuard } from './auth/token.guard';
export const jwt = JwtModule.register({ secret: process.env.LEDGER_JWT_SECRET, signOptions: { expiresIn: '15m' } });`,
      ),
    },
    expect: { SE1: 'PASS', SE3: 'PASS', SE7: 'FAIL', SE19: 'FAIL' },
  },
];

const INTERNAL_GUARD = `import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

@Injectable()
export class ServiceKeyGuard implements CanActivate {
  constructor(private readonly config: ConfigService) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.get<string>('LEDGER_SERVICE_KEY');
    if (!expected) return true;
    const request = context.switchToHttp().getRequest();
    if (request.headers['x-service-key'] !== expected) throw new UnauthorizedException();
    return true;
  }
}
`;

const INTERNAL_CONTROLLER = `import { Controller, Post, SetMetadata, UseGuards } from '@nestjs/common';
import { ServiceKeyGuard } from '../auth/service-key.guard';

export const ServiceOnly = () => SetMetadata('serviceOnly', true);

@ServiceOnly()
@UseGuards(ServiceKeyGuard)
@Controller('internal/settlements')
export class SettlementController {
  @Post()
  settle() {
    return { settled: true };
  }
}
`;

const SKIPPING_GUARD = PUBLIC_AWARE_GUARD.replace(
  '    if (open) return true;',
  `    if (open) return true;
    const serviceOnly = this.reflector.get<boolean>('serviceOnly', context.getClass());
    if (serviceOnly) {
      return true;
    }`,
);

const exemptions: Case[] = [
  {
    name: 'a controller the global guard skips but that carries its own guard is not open',
    files: {
      ...base,
      'src/auth/jwt-auth.guard.ts': SKIPPING_GUARD,
      'src/auth/service-key.guard.ts': INTERNAL_GUARD,
      'src/internal/settlement.controller.ts': INTERNAL_CONTROLLER,
      'src/app.module.ts': appModule(
        'JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }',
        "import { SettlementController } from './internal/settlement.controller';",
      ).replace(
        'controllers: [LedgerController, StatusController]',
        'controllers: [LedgerController, StatusController, SettlementController]',
      ),
    },
    expect: { SE1: 'PASS', SE3: 'PARTIAL', SE12: 'FAIL', FS2: 'FAIL' },
    at: {
      SE12: { file: 'src/auth/service-key.guard.ts', line: 'if (!expected) return true;' },
      FS2: { file: 'src/auth/service-key.guard.ts', line: 'if (!expected) return true;' },
    },
  },
  {
    name: 'the same controller without its own guard is open',
    files: {
      ...base,
      'src/auth/jwt-auth.guard.ts': SKIPPING_GUARD,
      'src/internal/settlement.controller.ts': INTERNAL_CONTROLLER.replace(
        '@UseGuards(ServiceKeyGuard)\n',
        '',
      ),
      'src/auth/service-key.guard.ts': INTERNAL_GUARD,
      'src/app.module.ts': appModule(
        'JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }',
        "import { SettlementController } from './internal/settlement.controller';",
      ).replace(
        'controllers: [LedgerController, StatusController]',
        'controllers: [LedgerController, StatusController, SettlementController]',
      ),
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/internal/settlement.controller.ts', line: '@Post()' } },
  },
];

const failures: Case[] = [
  {
    name: "a passport guard's handleRequest logs refused tokens",
    files: {
      ...base,
      'src/app.module.ts': appModule('JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }'),
    },
    expect: { SE11: 'PASS', SE22: 'PASS' },
    at: { SE22: { file: 'src/auth/jwt-auth.guard.ts', line: 'handleRequest(' } },
  },
  {
    name: 'a plain AuthGuard answers failures without logging them',
    files: {
      ...base,
      'src/app.module.ts': appModule(
        "JwtStrategy, { provide: APP_GUARD, useClass: AuthGuard('jwt') }",
      ).replace(
        "import { JwtAuthGuard } from './auth/jwt-auth.guard';",
        "import { AuthGuard } from '@nestjs/passport';",
      ),
    },
    expect: { SE22: 'FAIL' },
  },
  {
    name: 'a global exception filter that logs',
    files: {
      ...base,
      'src/app.module.ts': appModule(
        "JwtStrategy, { provide: APP_GUARD, useClass: AuthGuard('jwt') }, { provide: APP_FILTER, useClass: ProblemFilter }",
        "import { ProblemFilter } from './problem.filter';",
      )
        .replace(
          "import { JwtAuthGuard } from './auth/jwt-auth.guard';",
          "import { AuthGuard } from '@nestjs/passport';",
        )
        .replace(
          "import { APP_GUARD } from '@nestjs/core';",
          "import { APP_FILTER, APP_GUARD } from '@nestjs/core';",
        ),
      'src/problem.filter.ts': `import { ArgumentsHost, Catch, HttpException, Logger } from '@nestjs/common';

@Catch(HttpException)
export class ProblemFilter {
  private readonly logger = new Logger('http');

  catch(exception: HttpException, host: ArgumentsHost) {
    const response = host.switchToHttp().getResponse();
    this.logger.warn({ status: exception.getStatus(), message: exception.message });
    response.status(exception.getStatus()).json({ error: exception.message });
  }
}
`,
    },
    expect: { SE22: 'PASS' },
    at: { SE22: { file: 'src/app.module.ts', line: 'provide: APP_FILTER' } },
  },
];

const logging: Case[] = [
  {
    name: 'nestjs-pino logs every request with its status',
    files: {
      ...base,
      'src/app.module.ts': appModule(
        'JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }',
        "import { LoggerModule } from 'nestjs-pino';\nexport const logging = LoggerModule.forRoot();",
      ),
    },
    expect: { SE15: 'PASS' },
  },
  {
    name: 'no request logging',
    files: {
      ...base,
      'src/app.module.ts': appModule('JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }'),
    },
    expect: { SE15: 'FAIL' },
  },
  {
    name: 'a global interceptor logs each response',
    files: {
      ...base,
      'src/app.module.ts': appModule(
        'JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }, { provide: APP_INTERCEPTOR, useClass: AccessLogInterceptor }',
        "import { AccessLogInterceptor } from './access-log.interceptor';",
      ).replace(
        "import { APP_GUARD } from '@nestjs/core';",
        "import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';",
      ),
      'src/access-log.interceptor.ts': `import { CallHandler, ExecutionContext, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import { tap } from 'rxjs/operators';

@Injectable()
export class AccessLogInterceptor implements NestInterceptor {
  private readonly logger = new Logger('access');

  intercept(context: ExecutionContext, next: CallHandler) {
    const started = Date.now();
    return next.handle().pipe(
      tap(() => {
        const response = context.switchToHttp().getResponse();
        this.logger.log({ status: response.statusCode, ms: Date.now() - started });
      }),
    );
  }
}
`,
    },
    expect: { SE15: 'PASS' },
  },
];

const servers: Case[] = [
  {
    name: 'a microservice with no HTTP listener has no inbound HTTP checks',
    files: {
      'src/main.ts': `import { NestFactory } from '@nestjs/core';
import { Transport } from '@nestjs/microservices';
import { WorkerModule } from './worker.module';

async function bootstrap() {
  const app = await NestFactory.createMicroservice(WorkerModule, {
    transport: Transport.RMQ,
    options: { urls: [process.env.AMQP_URL ?? 'amqps://broker.internal'], queue: 'ledger' },
  });
  await app.listen();
}
bootstrap();
`,
      'src/worker.module.ts': `import { Module } from '@nestjs/common';
@Module({})
export class WorkerModule {}
`,
    },
    expect: { SE1: 'N/A', SE2: 'N/A' },
  },
];

const delegatingGuard = (body: string): Files => ({
  ...base,
  'src/auth/token.service.ts': `import { Injectable } from '@nestjs/common';
import * as jose from 'jose';

@Injectable()
export class TokenService {
  private readonly keys = jose.createRemoteJWKSet(new URL('https://sts.example.net/jwks'));

  async check(token: string) {
${body}
  }
}
`,
  'src/auth/delegating.guard.ts': `import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { TokenService } from './token.service';

@Injectable()
export class DelegatingGuard implements CanActivate {
  constructor(private readonly tokens: TokenService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest();
    const token = (request.headers.authorization ?? '').slice(7);
    if (!token) throw new UnauthorizedException();
    request.caller = await this.tokens.check(token);
    return true;
  }
}
`,
  'src/app.module.ts': appModule(
    '{ provide: APP_GUARD, useClass: DelegatingGuard }',
    "import { DelegatingGuard } from './auth/delegating.guard';",
  ),
});

const injection: Case[] = [
  {
    name: 'a guard that delegates verification to an injected service',
    files: delegatingGuard(`    const { payload } = await jose.jwtVerify(token, this.keys, {
      issuer: 'https://sts.example.net',
      audience: 'ledger-api',
    });
    return payload.sub;`),
    expect: { SE1: 'PASS', SE3: 'PASS', SE4: 'PASS' },
  },
  {
    name: 'a guard whose injected service only decodes the token',
    files: delegatingGuard(`    return jose.decodeJwt(token).sub;`),
    expect: { SE1: 'FAIL', SE4: 'FAIL' },
    at: { SE4: { file: 'src/auth/token.service.ts', line: 'jose.decodeJwt(token)' } },
  },
];

describe('NestJS injected services', () => {
  for (const testCase of injection) test(testCase.name, () => check(testCase));
});
describe('NestJS exemptions', () => {
  for (const testCase of exemptions) test(testCase.name, () => check(testCase));
});
describe('NestJS failure handling', () => {
  for (const testCase of failures) test(testCase.name, () => check(testCase));
});
describe('NestJS request logging', () => {
  for (const testCase of logging) test(testCase.name, () => check(testCase));
});
describe('NestJS servers', () => {
  for (const testCase of servers) test(testCase.name, () => check(testCase));
});
describe('NestJS guards', () => {
  for (const testCase of guards) test(testCase.name, () => check(testCase));
});
describe('NestJS public routes', () => {
  for (const testCase of publicRoutes) test(testCase.name, () => check(testCase));
});
describe('NestJS custom guards', () => {
  for (const testCase of customGuards) test(testCase.name, () => check(testCase));
});
describe('NestJS middleware', () => {
  for (const testCase of middleware) test(testCase.name, () => check(testCase));
});
describe('NestJS JWT options', () => {
  for (const testCase of jwtOptions) test(testCase.name, () => check(testCase));
});
