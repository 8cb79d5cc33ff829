import { Args, Field, ID, Mutation, ObjectType, Query, Resolver, Subscription } from '@nestjs/graphql';
import { CurrentIdentity, Public, RequireScope, type Identity } from '../../src/index.js';

@ObjectType('Order')
export class OrderObject {
  @Field(() => ID) id!: string;
  @Field(() => String) item!: string;
  @Field(() => String) placedBy!: string;
}

/** A tiny in-memory stream of new orders for the subscription. */
const listeners = new Set<(order: OrderObject) => void>();
function orderStream(): AsyncIterableIterator<{ orderPlaced: OrderObject }> {
  const queue: OrderObject[] = [];
  let wake: (() => void) | undefined;
  let open = true;
  const listener = (order: OrderObject) => {
    queue.push(order);
    wake?.();
  };
  listeners.add(listener);
  const iterator: AsyncIterableIterator<{ orderPlaced: OrderObject }> = {
    async next() {
      while (open && queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return open ? { value: { orderPlaced: queue.shift()! }, done: false } : { value: undefined, done: true };
    },
    async return() {
      open = false;
      listeners.delete(listener);
      wake?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/** The same decorators as the HTTP controllers, in a GraphQL resolver: no subclass, no extra guard. */
@Resolver(() => OrderObject)
export class OrdersResolver {
  private readonly orders: OrderObject[] = [{ id: '1', item: 'book', placedBy: 'sample' }];

  @Query(() => String)
  @Public()
  graphqlHello(): string {
    return 'hello from GraphQL';
  }

  @Query(() => [OrderObject])
  @RequireScope('orders:read')
  sampleOrders(): OrderObject[] {
    return this.orders;
  }

  @Mutation(() => OrderObject)
  @RequireScope('orders:write')
  placeOrder(@Args('item', { type: () => String }) item: string, @CurrentIdentity() identity: Identity): OrderObject {
    const order = { id: String(this.orders.length + 1), item, placedBy: identity.describe() };
    this.orders.push(order);
    for (const listener of listeners) listener(order);
    return order;
  }

  @Subscription(() => OrderObject)
  @RequireScope('orders:read')
  orderPlaced() {
    return orderStream();
  }
}
