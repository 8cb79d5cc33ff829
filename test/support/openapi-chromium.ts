import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import WebSocket from 'ws';
import { findBinary } from './find-binary.js';

/**
 * Headless Chromium driven through the DevTools protocol with `ws`: just enough to open a page,
 * wait for it, click, type and take a screenshot. No browser is downloaded: Debian's `chromium`
 * (or CHROMIUM_BIN) is used, and the tests that need it are skipped without one.
 */

const NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

/** Path of a Chromium binary (CHROMIUM_BIN, then PATH, then /usr/bin), or undefined. */
export function findChromiumBinary(): string | undefined {
  return findBinary(process.env.CHROMIUM_BIN, NAMES);
}

/** Why browser tests are skipped here, or undefined when they can run. */
export const chromiumSkipReason: string | undefined = findChromiumBinary()
  ? undefined
  : "Chromium binary not found (install Debian's chromium package or set CHROMIUM_BIN); Swagger UI test skipped";

type Pending = { resolve: (value: Record<string, unknown>) => void; reject: (error: Error) => void; method: string };

export class Chromium {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Console errors and uncaught exceptions of the pages, for failure messages. */
  readonly pageErrors: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly socket: WebSocket,
    private readonly profile: string,
  ) {
    socket.on('message', (data) => this.onMessage(JSON.parse(String(data)) as Record<string, unknown>));
    socket.on('close', () => {
      for (const { reject, method } of this.pending.values()) reject(new Error(`Chromium closed the connection during ${method}`));
      this.pending.clear();
    });
  }

  /** Starts headless Chromium on 127.0.0.1 with a throwaway profile. */
  static async launch(options: { timeoutMs?: number } = {}): Promise<Chromium> {
    const binary = findChromiumBinary();
    if (!binary) throw new Error(chromiumSkipReason);
    const profile = await mkdtemp(join(tmpdir(), 'nestjs-identity-chromium-'));
    const args = [
      '--headless=new',
      '--no-sandbox', // root in CI containers
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--no-default-browser-check',
      '--no-proxy-server',
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      'about:blank',
    ];
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const endpoint = await devtoolsEndpoint(child, options.timeoutMs ?? 20_000);
      const socket = new WebSocket(endpoint, { perMessageDeflate: false });
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      return new Chromium(child, socket, profile);
    } catch (error) {
      child.kill('SIGKILL');
      await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch(() => undefined);
      throw error;
    }
  }

  /** A new tab with the given viewport. */
  async newPage(viewport = { width: 1280, height: 1500 }): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const page = new Page(this, sessionId);
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    await page.send('Emulation.setDeviceMetricsOverride', { ...viewport, deviceScaleFactor: 1, mobile: false });
    return page;
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  async close(): Promise<void> {
    try {
      if (this.socket.readyState === WebSocket.OPEN) await Promise.race([this.send('Browser.close'), delay(3_000)]);
    } catch {
      // closing anyway
    }
    this.socket.close();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
      this.child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    }
    // Chromium's helper processes may still be writing the profile after the browser exited: retry, and never fail a suite over a temp dir.
    await rm(this.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch(() => undefined);
  }

  private onMessage(message: Record<string, unknown>): void {
    if (typeof message['id'] === 'number') {
      const pending = this.pending.get(message['id']);
      if (!pending) return;
      this.pending.delete(message['id']);
      const error = message['error'] as { message?: string } | undefined;
      if (error) pending.reject(new Error(`${pending.method}: ${error.message ?? 'failed'}`));
      else pending.resolve((message['result'] as Record<string, unknown>) ?? {});
      return;
    }
    const params = message['params'] as Record<string, unknown> | undefined;
    if (message['method'] === 'Runtime.exceptionThrown') {
      const details = params?.['exceptionDetails'] as { text?: string; exception?: { description?: string } } | undefined;
      this.pageErrors.push(`exception: ${details?.exception?.description ?? details?.text ?? 'unknown'}`);
    } else if (message['method'] === 'Runtime.consoleAPICalled' && params?.['type'] === 'error') {
      const args = (params['args'] as Array<{ value?: unknown; description?: string }> | undefined) ?? [];
      this.pageErrors.push(`console.error: ${args.map((arg) => arg.description ?? String(arg.value)).join(' ')}`);
    }
  }
}

export class Page {
  constructor(
    private readonly browser: Chromium,
    private readonly sessionId: string,
  ) {}

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  async goto(url: string): Promise<void> {
    const result = (await this.send('Page.navigate', { url })) as { errorText?: string };
    if (result.errorText) throw new Error(`navigation to ${url} failed: ${result.errorText}`);
  }

  /** Evaluates an expression in the page (awaiting a promise), returning its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const result = (await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true })) as {
      result?: { value?: unknown };
      exceptionDetails?: { text?: string; exception?: { description?: string } };
    };
    if (result.exceptionDetails) throw new Error(`in the page: ${result.exceptionDetails.exception?.description ?? result.exceptionDetails.text}`);
    return result.result?.value as T;
  }

  /** Polls an expression until it is truthy; returns its value. */
  async waitFor<T>(expression: string, what: string, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        last = await this.evaluate<T>(expression);
        if (last) return last as T;
      } catch (error) {
        last = error;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)}; page errors: ${this.browser.pageErrors.join(' | ') || 'none'})`);
      }
      await delay(100);
    }
  }

  /** Clicks the element an expression returns (an Element or null), once it exists. */
  async click(elementExpression: string, what: string): Promise<void> {
    await this.waitFor(`(() => { const el = ${elementExpression}; if (!el) return false; el.scrollIntoView({ block: 'center' }); el.click(); return true; })()`, what);
  }

  /** Focuses the element an expression returns and types text into it, as keyboard input. */
  async type(elementExpression: string, text: string, what: string): Promise<void> {
    await this.waitFor(`(() => { const el = ${elementExpression}; if (!el) return false; el.focus(); return document.activeElement === el; })()`, what);
    await this.send('Input.insertText', { text });
  }

  /** Saves a PNG of the viewport. */
  async screenshot(path: string): Promise<void> {
    const { data } = (await this.send('Page.captureScreenshot', { format: 'png' })) as { data: string };
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, Buffer.from(data, 'base64'));
  }
}

function devtoolsEndpoint(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => done(new Error(`Chromium did not open its DevTools endpoint within ${timeoutMs} ms:\n${output.slice(-2000)}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(output);
      if (match) done(undefined, match[1]);
    };
    const onExit = (code: number | null, signal: string | null): void => done(new Error(`Chromium exited early (code ${code}, signal ${signal}):\n${output.slice(-2000)}`));
    function done(error?: Error, endpoint?: string): void {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep draining stderr so a full pipe never blocks the browser.
      child.stderr?.resume();
      if (error) reject(error);
      else resolve(endpoint!);
    }
    const onError = (error: Error): void => done(error);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
