// An h2c application that answers one request and then ends its connection (GOAWAY, then FIN), and
// a client that reads that answer through the proxy only after the application's connection is gone.
// Usage: node h2-goaway.js HOST BODY_BYTES ; prints the application's port, then reads the proxy's
// port on stdin and prints one JSON line: {status, received, ended, error}.
const http2 = require('http2');
const host = process.argv[2];
const size = parseInt(process.argv[3], 10);
let appClosed;
const appGone = new Promise((resolve) => { appClosed = resolve; });
const server = http2.createServer();
server.on('session', (session) => session.on('close', () => appClosed()));
server.on('stream', (stream) => {
  stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
  // The whole body fits the proxy's receive window, so the application is done sending at once,
  // and its session.close() sends GOAWAY and closes the socket once this stream is over.
  stream.end(Buffer.alloc(size, 0x61), () => stream.session.close());
});
server.listen(0, host, () => {
  console.log(server.address().port);
  process.stdin.once('data', (d) => {
    // A small stream window: most of the answer has to wait inside the proxy for this client.
    const client = http2.connect(`http://${host}:${parseInt(d.toString().trim(), 10)}`, { settings: { initialWindowSize: 16384 } });
    const out = { status: 0, received: 0, ended: false, error: null };
    const req = client.request({ ':path': '/big' }, { endStream: true });
    req.on('response', (h) => {
      out.status = h[':status'];
      req.pause();
      appGone.then(() => req.resume());
    });
    req.on('data', (c) => { out.received += c.length; });
    req.on('end', () => { out.ended = true; });
    req.on('error', (e) => { out.error = e.code || String(e); });
    req.on('close', () => {
      if (!out.ended && !out.error) { out.error = 'closed, rstCode ' + req.rstCode; }
      console.log(JSON.stringify(out));
      client.close();
      server.close();
    });
  });
});
