// Node's http server with a short keep-alive timeout: answers every request 200 "ok <path>" with a Content-Length, prints
// "ready" once listening and "closed" each time one of its connections has closed (its idle timeout ended it).
// Usage: node h1-keepalive-server.js HOST PORT KEEP_ALIVE_TIMEOUT_MS
const http = require('http');
const [host, port, timeout] = process.argv.slice(2);
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const body = `ok ${req.url}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = Number(timeout);
server.on('connection', (socket) => socket.on('close', () => console.log('closed')));
server.listen(Number(port), host, () => console.log('ready'));
