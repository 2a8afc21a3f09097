// An h2c application that starts each response and keeps it open, for L7AppStreamResetCodeTest: each stream is answered
// 200 with "started\n" and never ended; when a stream closes, "<path> rst <code>" goes to stdout, the RST_STREAM code
// the stream was closed with (Node's stream.rstCode; 0 NO_ERROR, 2 INTERNAL_ERROR, 8 CANCEL).
// Usage: node h2-rst-code-server.js HOST ; prints the bound port on stdout first.
const http2 = require('http2');
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  stream.on('close', () => console.log(`${headers[':path']} rst ${stream.rstCode}`));
  stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  stream.write('started\n');
});
server.listen(0, process.argv[2], () => console.log(server.address().port));
