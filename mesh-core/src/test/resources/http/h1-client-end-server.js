// An application that starts answering and never ends, for L7Http1ClientEndFlagTest: an HTTP/1.1 server on H1_PORT and an
// h2c one on H2_PORT. Under /api/early a request is never answered; under /api/late its response's head and "started\n"
// go out at once, its end never. Each request prints "got PATH" once it arrived, so the client knows it is in progress.
// Prints "ready" once both listen. Usage: node h1-client-end-server.js HOST H1_PORT H2_PORT
const http = require('http');
const http2 = require('http2');
const [host, h1Port, h2Port] = process.argv.slice(2);
const h1 = http.createServer((req, res) => {
  req.resume();
  res.on('error', () => {});
  if (req.url.startsWith("/api/late")) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('started\n');
  }
  console.log(`got ${req.url}`);
});
const h2 = http2.createServer();
h2.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  stream.resume();
  if (headers[":path"].startsWith("/api/late")) {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.write('started\n');
  }
  console.log(`got ${headers[':path']}`);
});
h1.listen(Number(h1Port), host, () => h2.listen(Number(h2Port), host, () => console.log('ready')));
