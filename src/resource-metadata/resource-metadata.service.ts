import { Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, HttpAdapterHost, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { routePolicy } from '../access/route-policy.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { NEVER_ADVERTISED_SCOPES, type ResolvedResourceMetadataOptions } from './resource-metadata-options.js';

/** An RFC 9728 §2 protected-resource metadata document. */
export type ProtectedResourceMetadata = Readonly<Record<string, unknown>> & { readonly resource: string };

/**
 * RFC 9728 protected-resource metadata: the document, and its route at the path-aware well-known
 * URL of the configured resource (`/.well-known/oauth-protected-resource/<path>`).
 *
 * The route is registered on the HTTP adapter itself (Express or Fastify) at boot, not through a
 * controller: a well-known URL lives at the root of the origin whatever the app's global prefix,
 * its path comes from an option that forRootAsync only knows after the module is defined, and it is
 * public by construction (no guard, no interceptor sees it). `scopes_supported` defaults to every
 * scope an `@RequireScope` names on a controller route, found once at boot.
 */
@Injectable()
export class ResourceMetadataService implements OnModuleInit {
  private readonly logger = new Logger('IdentityResourceMetadata');
  private readonly config?: ResolvedResourceMetadataOptions;
  private built?: ProtectedResourceMetadata;

  constructor(
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
    private readonly reflector: Reflector,
    @Optional() private readonly modules?: ModulesContainer,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.config = options.resourceMetadata;
  }

  /** Whether the resource publishes metadata (`resourceMetadata` is set). */
  get enabled(): boolean {
    return this.config !== undefined;
  }

  /** The document (built at boot); undefined when `resourceMetadata` is not set. */
  document(): ProtectedResourceMetadata | undefined {
    if (this.config === undefined) return undefined;
    this.built ??= this.build(this.config);
    return this.built;
  }

  onModuleInit(): void {
    const config = this.config;
    if (config === undefined) return;
    const document = this.document()!;
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter === undefined || adapter === null) {
      this.logger.warn(`No HTTP server: ${config.path} is not served`);
      return;
    }
    const cacheControl = `public, max-age=${config.cacheMaxAge}`;
    adapter.get(config.path, (_request: unknown, response: unknown) => {
      adapter.setHeader(response, 'Cache-Control', cacheControl);
      // A public document: browser-based MCP clients read it across origins.
      adapter.setHeader(response, 'Access-Control-Allow-Origin', '*');
      adapter.reply(response, document, 200);
    });
  }

  private build(config: ResolvedResourceMetadataOptions): ProtectedResourceMetadata {
    const dpop = this.options.dpop;
    const document: Record<string, unknown> = {
      ...config.extra,
      resource: config.resource,
      authorization_servers: [...(config.authorizationServers ?? [this.options.issuer])],
      scopes_supported: [...(config.scopesSupported ?? this.discoverScopes())],
      bearer_methods_supported: [...config.bearerMethodsSupported],
    };
    if (config.resourceName !== undefined) document.resource_name = config.resourceName;
    if (config.resourceDocumentation !== undefined) document.resource_documentation = config.resourceDocumentation;
    if (dpop.mode !== 'off') document.dpop_signing_alg_values_supported = [...dpop.algorithms];
    if (config.dpopBoundAccessTokensRequired !== undefined) document.dpop_bound_access_tokens_required = config.dpopBoundAccessTokensRequired;
    return Object.freeze(document) as ProtectedResourceMetadata;
  }

  /** Every scope named by an `@RequireScope` on a controller route (class or method), sorted; never offline_access. */
  private discoverScopes(): string[] {
    const scopes = new Set<string>();
    if (this.modules === undefined) return [];
    const discovery = new DiscoveryService(this.modules);
    const scanner = new MetadataScanner();
    for (const wrapper of discovery.getControllers()) {
      const controller = wrapper.metatype as (new (...args: never[]) => unknown) | undefined;
      if (typeof controller !== 'function' || wrapper.isNotMetatype) continue;
      const prototype = controller.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (typeof handler !== 'function' || Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        for (const requirement of routePolicy(this.reflector, controller, handler).requirements) {
          if (requirement.type !== 'scope') continue;
          for (const scope of requirement.values) if (!NEVER_ADVERTISED_SCOPES.has(scope)) scopes.add(scope);
        }
      }
    }
    return [...scopes].sort();
  }
}
