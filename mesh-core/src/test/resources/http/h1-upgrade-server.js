// An independent HTTP/1.1 application with an Upgrade handler: answers 101 and then echoes bytes.
// Usage: node h1-upgrade-server.js HOST ; prints the bound port on stdout.
const http = require('http');
const server = http.createServer((req, res) => {
  res.end(`${req.method} ${req.url} xfcc=${req.headers['x-forwarded-client-cert']}`);
});
server.on('upgrade', (req, socket, head) => {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n`
    + `Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Seen: ${req.url}\r\n\r\n`);
  if (head.length) socket.write(head);
  socket.pipe(socket);
});
server.listen(0, process.argv[2], () => console.log(server.address().port));
