// An independent h2c (prior knowledge) application: answers with what it received.
// Usage: node h2c-server.js HOST [PORT] ; prints the bound port on stdout.
const http2 = require('http2');
const crypto = require('crypto');
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  // /api/rst: the application resets its connection (a TCP RST) instead of answering.
  if (headers[':path'] === '/api/rst') { stream.session.socket.resetAndDestroy(); return; }
  // A stream the proxy resets (its client's trailers over the limits) must not end the server.
  stream.on('error', () => {});
  let trailers = 0;
  stream.on('trailers', (t) => { trailers = Object.keys(t).length; });
  const hash = crypto.createHash('sha256');
  let len = 0;
  stream.on('data', (c) => { len += c.length; hash.update(c); });
  // /api/head-first: the answer's head goes out at once, its body at the request's end (a stream the client knows open).
  const headFirst = headers[':path'] === '/api/head-first';
  if (headFirst) stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  stream.on('end', () => {
    const session = stream.session;
    // /api/goaway-first: the application's GOAWAY (session.close(), naming this stream as the last it processes) goes
    // out before this answer, as a server draining for MAX_CONNECTION_AGE or shutdown sends it; then its FIN.
    if (headers[':path'] === '/api/goaway-first') session.close();
    if (!headFirst) stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    // /api/bye: the application ends its connection after this answer (GOAWAY, then FIN).
    stream.end(`${headers[':method']} ${headers[':path']} xfcc=${headers['x-forwarded-client-cert']} len=${len} sha=${hash.digest('hex')} authority=${headers[':authority']} host=${headers['host']}${trailers ? ` trailers=${trailers}` : ''}`,
      () => { if (headers[':path'] === '/api/bye') session.close(); });
  });
});
// An optional second argument names the port (else any free one).
server.listen(Number(process.argv[3] || 0), process.argv[2], () => console.log(server.address().port));
