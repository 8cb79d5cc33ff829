import 'reflect-metadata';
import type { INestApplication, ModuleMetadata, Type } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { expect } from 'vitest';
import { IdentityModule, InvalidTokenError, type IdentityModuleOptions, type InvalidTokenReason } from '../../../src/index.js';
import type { PlatformName } from '../../support/platforms.js';
import { LogCapture } from './log-capture.js';
import { SecurityController } from './security-controller.js';

export { PLATFORMS, type PlatformName } from '../../support/platforms.js';

export const AUDIENCE = 'https://api.example.com';

export interface SecurityApp {
  app: INestApplication;
  http: ReturnType<typeof request>;
  logs: LogCapture;
  close(): Promise<void>;
}

/**
 * Boots the module on a platform with every log level captured (the module's debug lines
 * included), the security routes, and optional extra controllers or imports.
 */
export async function startSecurityApp(
  platform: PlatformName,
  options: () => IdentityModuleOptions | Promise<IdentityModuleOptions>,
  extra: { controllers?: Type[]; imports?: ModuleMetadata['imports']; logs?: LogCapture; routes?: { admin?: boolean } } = {},
): Promise<SecurityApp> {
  const logs = extra.logs ?? new LogCapture();
  logs.install();
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [IdentityModule.forRootAsync({ useFactory: options, routes: extra.routes }), ...(extra.imports ?? [])],
      controllers: [SecurityController, ...(extra.controllers ?? [])],
    })
      .setLogger(logs)
      .compile();
    const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: logs }) : moduleRef.createNestApplication({ logger: logs });
    app.useLogger(logs);
    try {
      await app.init();
      if (platform === 'fastify') await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
    } catch (error) {
      await app.close().catch(() => undefined);
      throw error;
    }
    return {
      app,
      http: request(app.getHttpServer()),
      logs,
      close: async () => {
        await app.close();
        logs.uninstall();
      },
    };
  } catch (error) {
    logs.uninstall();
    throw error;
  }
}

const description = (reason: InvalidTokenReason) => new InvalidTokenError(reason).description;

/** RFC 6750 §3.1 invalid_token: 401 with the challenge, the fixed description, nothing echoed. */
export function expectInvalidToken(response: request.Response, reason?: InvalidTokenReason, label = ''): void {
  expect(response.status, `${label} ${response.text}`).toBe(401);
  const challenge = response.headers['www-authenticate'] as string;
  expect(challenge, label).toMatch(new RegExp(`^Bearer realm="${AUDIENCE}", error="invalid_token", error_description="[^"]+"$`));
  expect(response.body, label).toMatchObject({ statusCode: 401, error: 'invalid_token' });
  if (reason) expect(response.body.message, label).toBe(description(reason));
}

/** RFC 6750 §3.1 invalid_request: 400 with the challenge. */
export function expectInvalidRequest(response: request.Response, label = ''): void {
  expect(response.status, `${label} ${response.text}`).toBe(400);
  expect(response.headers['www-authenticate'], label).toMatch(/^Bearer realm="[^"]*", error="invalid_request", error_description="[^"]+"$/);
  expect(response.body, label).toMatchObject({ statusCode: 400, error: 'invalid_request' });
}

/** RFC 6750 §3: no credentials, a bare challenge without an error code. */
export function expectBareChallenge(response: request.Response, label = ''): void {
  expect(response.status, `${label} ${response.text}`).toBe(401);
  expect(response.headers['www-authenticate'], label).toBe(`Bearer realm="${AUDIENCE}"`);
}

/** 403 insufficient_scope (RFC 6750 §3.1). */
export function expectInsufficientScope(response: request.Response, label = ''): void {
  expect(response.status, `${label} ${response.text}`).toBe(403);
  expect(response.headers['www-authenticate'], label).toContain('error="insufficient_scope"');
}

/** Never a 5xx, and the answer never repeats the token or any part of it. */
export function expectCleanRefusal(response: request.Response, token: string, label = ''): void {
  expect([400, 401], `${label}: ${response.status} ${response.text}`).toContain(response.status);
  const answer = `${response.text}\n${JSON.stringify(response.headers)}`;
  for (const part of [token, ...token.split('.')].filter((p) => p.length >= 16)) {
    expect(answer.includes(part), `${label}: the answer echoes the token`).toBe(false);
  }
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
