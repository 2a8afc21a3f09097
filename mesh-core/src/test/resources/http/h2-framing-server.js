// An h2c (prior knowledge) application whose responses misdeclare their framing, one way per path.
// Usage: node h2-framing-server.js HOST PORT ; prints "ready" once listening.
const http2 = require('http2');
const server = http2.createServer();
let sent = () => 0;
// A connection the proxy closes mid-body must not end the server.
server.on('session', (session) => session.on('error', () => {}));
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  const path = headers[':path'];
  stream.on('data', () => {});
  stream.on('end', () => {
    // content-length: 5 on a head that ends the stream: no body follows it.
    if (path === '/api/length-no-body') { stream.respond({ ':status': 200, 'content-length': '5' }, { endStream: true }); return; }
    // content-length: 5, then an empty DATA frame that ends the stream.
    if (path === '/api/length-empty-data') { stream.respond({ ':status': 200, 'content-length': '5' }); stream.end(); return; }
    // A HEAD's answer: its head alone, no content-length.
    if (path === '/api/head-alone') { stream.respond({ ':status': 200 }, { endStream: true }); return; }
    // A 304's head alone.
    if (path === '/api/not-modified') { stream.respond({ ':status': 304, etag: '"v1"' }, { endStream: true }); return; }
    // /api/mib: 32 MiB without a length, written as fast as the stream's flow control takes it; /api/sent: the bytes that
    // connection's socket has written so far (how much the proxy has taken while its client reads nothing).
    if (path === '/api/mib') {
      const socket = stream.session.socket;
      // Once its session is gone its socket proxy throws: the last count read stands.
      let last = 0;
      sent = () => { try { last = socket.bytesWritten; } catch (e) { /* session destroyed */ } return last; };
      stream.respond({ ':status': 200 });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let left = 512;
      const pump = () => { if (stream.destroyed) return; while (left > 0) { left--; if (!stream.write(chunk)) { stream.once('drain', pump); return; } } stream.end(); };
      pump();
      return;
    }
    if (path === '/api/sent') { stream.respond({ ':status': 200 }); stream.end(String(sent())); return; }
    // A length-less body cut by the application: its connection reset (TCP RST) once the proxy has read the first part.
    // Not at the write's callback: the head and the part could then still be on their way out (or unread by the proxy
    // when its write on the connection, a SETTINGS ACK flushed at the end of a read, fails on the reset and Netty closes
    // the connection with them unread: a 503 before the response in about 1 run in 25). A PING sent after the first
    // one's ACK follows the head and the part on the wire, so its ACK says the proxy has read them.
    if (path === '/api/reset-connection') {
      stream.respond({ ':status': 200 });
      stream.write('partial', () => stream.session.ping(() => stream.session.ping(() => stream.session.socket.resetAndDestroy())));
      return;
    }
    stream.respond({ ':status': 200, 'content-length': String(path.length + 3) });
    stream.end(`ok ${path}`);
  });
});
server.listen(Number(process.argv[3]), process.argv[2], () => console.log('ready'));
