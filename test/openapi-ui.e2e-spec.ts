import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder } from '@nestjs/swagger';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentitySwagger } from '../src/openapi/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createOpenApiApp } from './support/openapi-app.js';
import { Chromium, chromiumSkipReason, type Page } from './support/openapi-chromium.js';
import { PLATFORMS } from './support/platforms.js';

const AUDIENCE = 'https://api.example.com';
/** Screenshots kept as test artifacts (git-ignored). */
const ARTIFACTS = resolve(import.meta.dirname, '..', 'test-artifacts');

/** The GET /orders operation block of Swagger UI. */
const ORDERS_BLOCK = `[...document.querySelectorAll('.opblock.opblock-get')].find((block) => block.querySelector('.opblock-summary-path')?.getAttribute('data-path') === '/orders')`;
/** The Authorize dialog's section for the oauth2 client_credentials flow. */
const CLIENT_CREDENTIALS = `[...document.querySelectorAll('.auth-container')].find((section) => section.querySelector('h4')?.textContent?.includes('clientCredentials'))`;

// A real browser (Debian's chromium, headless) against the API on 127.0.0.1: it opens /docs, gets
// a token at the provider's token URL through the oauth2 client_credentials flow of the Authorize
// dialog, and calls GET /orders with "Try it out" and "Execute". Skipped, with the reason in the
// title, where no Chromium binary is installed.
describe.skipIf(chromiumSkipReason)(`Swagger UI in headless Chromium${chromiumSkipReason ? ` (${chromiumSkipReason})` : ''}`, () => {
  let browser: Chromium;

  beforeAll(async () => {
    browser = await Chromium.launch();
  });

  afterAll(async () => {
    await browser?.close();
  });

  describe.each(PLATFORMS)('on %s', (platform) => {
    let idp: DevelopmentIdentityProvider;
    let app: INestApplication;
    let url: string;
    let page: Page;

    beforeAll(async () => {
      idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
      const config = new DocumentBuilder().setTitle('Orders API').setDescription('nestjs-identity Swagger UI e2e').setVersion('1.0').build();
      ({ app, url } = (await createOpenApiApp(platform, {
        issuer: idp.issuer,
        audience: AUDIENCE,
        listen: true,
        beforeInit: (created) => IdentitySwagger.setup('docs', created, config),
      })) as { app: INestApplication; url: string });
      page = await browser.newPage();
    });

    afterAll(async () => {
      await page?.send('Page.close').catch(() => undefined);
      await app?.close();
      await idp?.stop();
    });

    it('authorises with client_credentials and calls a protected operation through the UI', async () => {
      try {
        await authoriseAndExecute();
      } catch (error) {
        // What the page looked like when it failed, beside the error.
        await page.screenshot(resolve(ARTIFACTS, `swagger-ui-${platform}-failure.png`)).catch(() => undefined);
        const dialog = await page.evaluate<string>(`document.querySelector('.dialog-ux')?.innerText ?? ''`).catch(() => '');
        if (dialog && error instanceof Error) error.message += `\nAuthorize dialog: ${dialog.slice(0, 1500)}`;
        throw error;
      }
    });

    async function authoriseAndExecute(): Promise<void> {
      const { clientId, clientSecret } = idp.defaultServiceAccount;
      const tokensBefore = idp.stats.token;
      await page.goto(`${url}/docs`);
      await page.waitFor(`Boolean(${ORDERS_BLOCK})`, 'the GET /orders operation in Swagger UI');

      // Authorize dialog: the oauth2 scheme's client_credentials flow, at the provider's token URL.
      await page.click(`document.querySelector('.auth-wrapper .btn.authorize')`, 'the Authorize button');
      await page.type(`document.querySelector('#client_id_clientCredentials')`, clientId, 'the client_id field');
      await page.type(`document.querySelector('#client_secret_clientCredentials')`, clientSecret ?? '', 'the client_secret field');
      await page.click(`${CLIENT_CREDENTIALS}?.querySelector('input[type=checkbox][data-value="orders:read"]')`, 'the orders:read scope');
      await page.click(`${CLIENT_CREDENTIALS}?.querySelector('.auth-btn-wrapper .btn.authorize')`, 'the dialog\'s Authorize button');
      const authorised = await page.waitFor<{ ok: boolean; text: string }>(
        `(() => {
          const section = ${CLIENT_CREDENTIALS};
          const errors = section?.querySelector('.errors')?.textContent;
          if (errors) return { ok: false, text: errors };
          const logout = [...(section?.querySelectorAll('.auth-btn-wrapper button') ?? [])].some((button) => button.textContent.trim() === 'Logout');
          return logout ? { ok: true, text: section.textContent } : false;
        })()`,
        'the client_credentials authorisation',
      );
      expect(authorised.ok, authorised.text).toBe(true);
      // The browser itself went to the provider's token URL (its CORS preflight counts too).
      expect(idp.stats.token).toBeGreaterThan(tokensBefore);
      await page.click(`document.querySelector('.dialog-ux .modal-ux-header .close-modal') ?? document.querySelector('.dialog-ux .btn-done')`, 'the dialog\'s close button');
      await page.waitFor(`!document.querySelector('.dialog-ux')`, 'the dialog to close');

      // Try it out, Execute.
      await page.click(`${ORDERS_BLOCK}?.querySelector('.opblock-summary-control') ?? ${ORDERS_BLOCK}?.querySelector('.opblock-summary')`, 'the GET /orders summary');
      await page.click(`${ORDERS_BLOCK}?.querySelector('.try-out__btn')`, 'Try it out');
      await page.click(`${ORDERS_BLOCK}?.querySelector('.btn.execute')`, 'Execute');
      const live = await page.waitFor<{ status: string; body: string; curl: string }>(
        `(() => {
          const block = ${ORDERS_BLOCK};
          const status = block?.querySelector('.live-responses-table .response .response-col_status')?.textContent?.trim();
          if (!status) return false;
          return { status, body: block.querySelector('.live-responses-table .response-col_description pre')?.textContent ?? '', curl: block.querySelector('.curl-command')?.textContent ?? block.querySelector('.curl')?.textContent ?? '' };
        })()`,
        'the live response of GET /orders',
      );
      expect(live.status, live.body).toBe('200');
      expect(JSON.parse(live.body)).toEqual({ orders: [{ id: 'o-1', total: 42 }] });
      expect(live.curl).toMatch(/Authorization: Bearer [\w-]+\.[\w-]+\.[\w-]+/);

      await page.evaluate(`${ORDERS_BLOCK}.scrollIntoView({ block: 'start' })`);
      await page.screenshot(resolve(ARTIFACTS, `swagger-ui-${platform}.png`));
    }
  });
});
