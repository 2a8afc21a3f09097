// An h2c (prior knowledge) client with a stream open when the drain begins: it sends the head and part of a body, and
// ends the body only once a GOAWAY came, then reads the answer (h2c-server.js /api/head-first answers the head at once).
// Usage: node h2-drain-stream-client.js HOST PORT PATH [DELAY_MS] ; the body ends DELAY_MS (default 0) after the GOAWAY;
// prints "status N" once the answer's head came, "goaway CODE",
// "body N" (bytes read, at the stream's end), "error CODE" on a socket or session error (a reset), and "closed" when the
// session has ended.
const http2 = require('http2');
const [host, port, path, delay] = process.argv.slice(2);
const session = http2.connect(`http://${host}:${port}`);
session.on('error', (e) => console.log(`error ${e.code || e}`));
session.socket.on('error', (e) => console.log(`error ${e.code || e}`));
session.on('close', () => { console.log('closed'); process.exit(0); });
const req = session.request({ ':path': path, ':method': 'POST' }, { endStream: false });
session.once('goaway', (code) => { console.log(`goaway ${code}`); setTimeout(() => req.end('b'), Number(delay || 0)); });
req.write('a');
req.on('response', (h) => console.log(`status ${h[':status']}`));
req.on('error', (e) => console.log(`stream error ${e.code || e}`));
let n = 0;
req.on('data', (c) => { n += c.length; });
req.on('end', () => console.log(`body ${n}`));
