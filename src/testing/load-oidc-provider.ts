import type * as OidcProviderModule from 'oidc-provider';

export type OidcProviderModuleType = typeof OidcProviderModule;

let loading: Promise<OidcProviderModuleType> | undefined;

/**
 * Imports oidc-provider once, lazily (so importing `nestjs-identity/testing` costs nothing until a
 * provider starts), without its import-time "Unsupported runtime" warning: oidc-provider 9 asks for
 * Node 22 LTS but runs fine on the Node 20 LTS this package supports, and test output must stay
 * quiet. Only that one console.warn line is swallowed, only while the module evaluates.
 */
export function loadOidcProvider(): Promise<OidcProviderModuleType> {
  loading ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
      warn.apply(console, args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return loading;
}
