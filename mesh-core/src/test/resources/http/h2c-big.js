// An independent h2c (prior knowledge) application answering GET /big?n=N with N bytes ('a' to 'z' repeated), written
// as Node's http2 writes a large body: in DATA frames as the peer's flow-control windows allow.
// Usage: node h2c-big.js HOST PORT ; prints the bound port on stdout.
const http2 = require('http2');
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  const n = Number(new URL(headers[':path'], 'http://x').searchParams.get('n') || 0);
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = 97 + (i % 26);
  stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', 'content-length': String(n) });
  stream.end(body);
});
server.listen(Number(process.argv[3] || 0), process.argv[2], () => console.log(server.address().port));
