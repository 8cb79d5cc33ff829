/**
 * An optional peer dependency, imported on first use (never at load time), so that an app without
 * GraphQL, WebSockets or microservices still starts. The guard awaits load() the first time it
 * meets a context of that type; the package is certainly installed then, since Nest itself needed
 * it to create the context.
 */
export class OptionalPackage<T> {
  private module?: T;
  private loading?: Promise<T>;

  constructor(
    readonly name: string,
    private readonly importer: () => Promise<unknown>,
  ) {}

  /** The module once loaded, else undefined. */
  get loaded(): T | undefined {
    return this.module;
  }

  load(): Promise<T> {
    this.loading ??= this.importer().then(
      (module) => (this.module = module as T),
      (error: unknown) => {
        this.loading = undefined;
        throw new Error(`nestjs-identity needs the optional package "${this.name}" for this context: install it`, { cause: error });
      },
    );
    return this.loading;
  }
}

// The few members we use, typed here so that no declaration of ours names an optional package.

/** What we use of `graphql`. */
export interface GraphqlModule {
  GraphQLError: new (message: string, options?: { extensions?: Record<string, unknown> }) => Error & { extensions: Record<string, unknown> };
}

/** What we use of `@nestjs/websockets`. */
export interface WebSocketsModule {
  WsException: new (error: string | object) => Error & { getError(): string | object };
  BaseWsExceptionFilter: new () => { catch(exception: unknown, host: unknown): void };
}

/** What we use of `@nestjs/microservices`. */
export interface MicroservicesModule {
  RpcException: new (error: string | object) => Error & { getError(): string | object };
}

export const graphqlPackage = new OptionalPackage<GraphqlModule>('graphql', () => import('graphql'));
export const websocketsPackage = new OptionalPackage<WebSocketsModule>('@nestjs/websockets', () => import('@nestjs/websockets'));
export const microservicesPackage = new OptionalPackage<MicroservicesModule>('@nestjs/microservices', () => import('@nestjs/microservices'));
