// node sample/contexts/try-message.mjs "$SA_TOKEN" [port]   — sends orders.count over TCP with the token in the packet metadata
import { ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';

const [token, port = '3001'] = process.argv.slice(2);
const client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: Number(port) } });
// What authorizationDispatchHook(token) does: the token travels beside the payload.
if (token) client.setOnDispatchHook((packet) => (packet.metadata = { ...packet.metadata, authorization: `Bearer ${token}` }));
try {
  console.log('answer', JSON.stringify(await firstValueFrom(client.send('orders.count', {}))));
} catch (error) {
  console.log('refused', JSON.stringify(error));
} finally {
  await client.close();
}
