// node sample/contexts/try-socket.mjs "$SA_TOKEN" [event] [api]   — a socket.io client: connects, emits, prints the answer
import { io } from 'socket.io-client';

const [token, event = 'whoami', api = 'http://127.0.0.1:3000'] = process.argv.slice(2);
const socket = io(api, { transports: ['websocket'], reconnection: false, auth: token ? { token } : {} });
socket.on('connect_error', (error) => {
  console.log('refused:', error.message, JSON.stringify(error.data ?? {}));
  process.exit(0);
});
socket.on('connect', () => socket.emit(event));
socket.onAny((name, data) => {
  console.log(name, JSON.stringify(data));
  socket.close();
});
