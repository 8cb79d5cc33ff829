// node sample/contexts/try-subscription.mjs "$SA_TOKEN" [api] [seconds]   — subscribes to orderPlaced over graphql-ws
// for `seconds` (default 5), so a pasted demo moves on; a token that expires sooner is closed 4401 first.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [token, api = 'http://127.0.0.1:3000', seconds = '5'] = process.argv.slice(2);
setTimeout(() => {
  console.log(`listened for ${seconds} s; closing`);
  process.exit(0);
}, Number(seconds) * 1000).unref();
const client = createClient({
  url: `${api.replace(/^http/, 'ws')}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  retryAttempts: 0,
  on: { connected: () => console.log('connected: place an order (mutation placeOrder) to see it'), closed: (event) => { console.log('closed', event.code, event.reason); process.exit(0); } },
});
client.subscribe(
  { query: 'subscription { orderPlaced { id item placedBy } }' },
  { next: (value) => console.log(JSON.stringify(value)), error: (error) => console.log('error', error.code ?? '', error.reason ?? JSON.stringify(error)), complete: () => process.exit(0) },
);
