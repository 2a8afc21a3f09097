// An independent h2c application taking WebSocket over HTTP/2 (RFC 8441 extended CONNECT) when its third argument is
// "true" (Node's SETTINGS_ENABLE_CONNECT_PROTOCOL, enableConnectProtocol); without it nghttp2 refuses :protocol (a stream
// reset). Each CONNECT stream is answered 200 with what the request carried (x-seen) and then echoes its bytes, its
// END_STREAM answered with its own; /ws/rst resets its stream at the first bytes; /ws/404 answers 404.
// Usage: node h2-websocket-server.js HOST PORT true|false ; prints the bound port on stdout.
const http2 = require('http2');
const enable = process.argv[4] === 'true';
const server = http2.createServer({ settings: { enableConnectProtocol: enable } });
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  if (headers[':method'] !== 'CONNECT') {
    stream.respond({ ':status': 200 });
    stream.end(`${headers[':method']} ${headers[':path']} plain`);
    return;
  }
  const path = headers[':path'];
  if (path === '/ws/404') {
    stream.respond({ ':status': 404, 'content-type': 'text/plain' });
    stream.end('no such socket');
    return;
  }
  const seen = [':method', ':protocol', ':scheme', ':path', ':authority', 'connection', 'upgrade', 'content-length',
    'sec-websocket-key'].map((k) => `${k}=${headers[k]}`).join(' ');
  stream.respond({ ':status': 200, 'x-seen': seen });
  if (path === '/ws/rst') {
    // destroy() with an error: RST_STREAM alone (close() would end the writable side first, END_STREAM then the reset).
    stream.once('data', () => stream.destroy(new Error('reset by the application')));
    return;
  }
  stream.pipe(stream);
});
server.listen(Number(process.argv[3] || 0), process.argv[2], () => console.log(server.address().port));
