// The application of the JWT tests (L7JwtTest): an HTTP/1 server and an h2c (prior knowledge) server that answer every
// request with what reached them, as JSON: {"path": ..., "headers": {name: value, ...}}.
// Usage: node jwt-echo-server.js HOST ; prints "H1PORT H2PORT" on stdout.
const http = require('http');
const http2 = require('http2');
const answer = (path, headers) => JSON.stringify({ path, headers });
const h1 = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(answer(req.url, req.headers));
  });
});
const h2 = http2.createServer();
h2.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  // Under /unread: the body is never read (its window never given back) and no answer comes, a stalled application.
  if (String(headers[':path']).startsWith('/unread')) return;
  stream.resume();
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    const plain = {};
    for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':')) plain[k] = v;
    stream.end(answer(headers[':path'], plain));
  });
});
h1.listen(0, process.argv[2], () => h2.listen(0, process.argv[2], () => console.log(`${h1.address().port} ${h2.address().port}`)));
