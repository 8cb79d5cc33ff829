import { Args, Field, ID, Mutation, ObjectType, Parent, Query, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import { Authenticated, CurrentIdentity, Public, RequireDpop, RequireRole, RequireScope, type Identity } from '../../src/index.js';

@ObjectType()
export class OrderModel {
  @Field(() => ID) id!: string;
  @Field(() => String) item!: string;
  /** Who received the event (subscriptions). */
  @Field(() => String, { nullable: true }) viewer?: string;
}

@ObjectType()
export class CallerModel {
  @Field(() => String) kind!: string;
  @Field(() => String) subject!: string;
  @Field(() => [String]) scopes!: string[];
}

/** A tiny in-memory pub/sub: one async iterator per subscriber. */
export class OrderEvents {
  private readonly listeners = new Set<(order: OrderModel) => void>();

  publish(order: OrderModel): void {
    for (const listener of this.listeners) listener(order);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  subscribe<T>(map: (order: OrderModel) => T): AsyncIterableIterator<T> {
    const queue: T[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const listener = (order: OrderModel) => {
      queue.push(map(order));
      wake?.();
    };
    this.listeners.add(listener);
    const finish = () => {
      done = true;
      this.listeners.delete(listener);
      wake?.();
    };
    const iterator: AsyncIterableIterator<T> = {
      async next() {
        while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve));
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        return { value: undefined, done: true };
      },
      async return() {
        finish();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}

export const orderEvents = new OrderEvents();

const ORDERS: OrderModel[] = [
  { id: '1', item: 'book' },
  { id: '2', item: 'lamp' },
  { id: '3', item: 'desk' },
];

/** Every decorator, in a resolver: queries, a guarded field, a mutation, subscriptions. */
@Resolver(() => OrderModel)
export class OrdersResolver {
  @Query(() => String)
  @Public()
  hello(): string {
    return 'hello';
  }

  @Query(() => CallerModel)
  @Authenticated()
  me(@CurrentIdentity() identity: Identity): CallerModel {
    return { kind: identity.kind, subject: identity.subject, scopes: [...identity.scopes] };
  }

  @Query(() => [OrderModel])
  @RequireScope('orders:read')
  orders(): OrderModel[] {
    return ORDERS;
  }

  /** A field-level guard: runs once per order, verifies once per request. */
  @ResolveField(() => String, { nullable: true })
  @RequireScope('reports:read')
  audit(@Parent() order: OrderModel): string {
    return `audited ${order.id}`;
  }

  @Query(() => String)
  @RequireRole('admin')
  admin(@CurrentIdentity() identity: Identity): string {
    return identity.user?.email ?? '';
  }

  @Query(() => String)
  @Authenticated()
  dispatch(@CurrentIdentity() identity: Identity): string {
    identity.assertScope('jobs:dispatch');
    return 'dispatched';
  }

  /** DPoP only: a Bearer token is refused. */
  @Query(() => String)
  @RequireDpop()
  bound(): string {
    return 'bound';
  }

  @Mutation(() => OrderModel)
  @RequireScope('orders:write')
  createOrder(@Args('item', { type: () => String }) item: string): OrderModel {
    const order = { id: String(Date.now()), item };
    orderEvents.publish(order);
    return order;
  }

  @Subscription(() => OrderModel)
  @RequireScope('orders:read')
  orderCreated(@CurrentIdentity() identity: Identity) {
    return orderEvents.subscribe((order) => ({ orderCreated: { ...order, viewer: identity.subject } }));
  }

  @Subscription(() => OrderModel)
  @RequireScope('identity:admin')
  auditTrail() {
    return orderEvents.subscribe((order) => ({ auditTrail: order }));
  }
}
