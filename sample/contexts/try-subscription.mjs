// node sample/contexts/try-subscription.mjs "$SA_TOKEN" [api]   — subscribes to orderPlaced over graphql-ws
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [token, api = 'http://127.0.0.1:3000'] = process.argv.slice(2);
const client = createClient({
  url: `${api.replace(/^http/, 'ws')}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  retryAttempts: 0,
  on: { connected: () => console.log('connected: place an order (mutation placeOrder) to see it'), closed: (event) => console.log('closed', event.code, event.reason) },
});
client.subscribe(
  { query: 'subscription { orderPlaced { id item placedBy } }' },
  { next: (value) => console.log(JSON.stringify(value)), error: (error) => console.log('error', error.code ?? '', error.reason ?? JSON.stringify(error)), complete: () => process.exit(0) },
);
