// An HTTP/1.1 application that frames every response by closing its connection: it reads one request head, answers
// "HTTP/1.1 200 OK" with neither Content-Length nor Transfer-Encoding and the body "close-framed <path>", then ends the
// connection. Prints "ready" once listening and "conn N" for each connection it accepts.
// Usage: node h1-close-delimited-server.js HOST PORT
const net = require('net');
const [host, port] = process.argv.slice(2);
let connections = 0;
const server = net.createServer((socket) => {
  console.log(`conn ${++connections}`);
  let head = '';
  socket.on('data', (chunk) => {
    head += chunk.toString('latin1');
    const end = head.indexOf('\r\n\r\n');
    if (end < 0 || socket.answered) {
      return;
    }
    socket.answered = true;
    const path = head.split(' ')[1];
    socket.end(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nclose-framed ${path}`);
  });
  socket.on('error', () => {});
});
server.listen(Number(port), host, () => console.log('ready'));
