// An h2c (prior knowledge) client that keeps its connection after one answer, as a gRPC channel does.
// Usage: node h2-idle-client.js HOST PORT PATH ; prints "status N" once answered, then "goaway CODE" on a
// GOAWAY, "error CODE" on a socket error (a reset), and "closed" when the session has ended.
const http2 = require('http2');
const [host, port, path] = process.argv.slice(2);
const session = http2.connect(`http://${host}:${port}`);
session.once('goaway', (code) => console.log(`goaway ${code}`)); // the drain's notice; its final GOAWAY follows
session.on('error', (e) => console.log(`error ${e.code || e}`));
session.socket.on('error', (e) => console.log(`error ${e.code || e}`));
session.on('close', () => { console.log('closed'); process.exit(0); });
const req = session.request({ ':path': path }, { endStream: true });
req.on('response', (h) => console.log(`status ${h[':status']}`));
req.on('error', () => {});
req.resume();
