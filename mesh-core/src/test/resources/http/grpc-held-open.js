// A gRPC-shaped HTTP/2 client that keeps its request side open after the answer (Node's http2 sends no RST_STREAM
// when the server ends a stream the client has not ended), for L7Http2PolicyChangeTest.
// Usage: node grpc-held-open.js HOST PORT; opens /test.Echo/Stream at once, /test.Echo/Allowed on a "second" line on
// stdin. Prints one line per event: "<path> response <grpc-status> <:status>", "<path> error <code>", "goaway <code>".
const http2 = require('http2');
const [host, port] = [process.argv[2], Number(process.argv[3])];
const session = http2.connect(`http://${host}:${port}`);
session.on('goaway', (code) => console.log(`goaway ${code}`));
session.on('error', (e) => console.log(`session error ${e.code}`));
function call(path, end) {
  const req = session.request({':method': 'POST', ':path': path, 'content-type': 'application/grpc', 'te': 'trailers'});
  req.on('response', (h) => console.log(`${path} response ${h['grpc-status'] ?? '-'} ${h[':status']}`));
  req.on('error', (e) => console.log(`${path} error ${e.code}`));
  req.write(Buffer.from([0, 0, 0, 0, 3, 0x6f, 0x6e, 0x65]));
  if (end) {
    req.end();
  }
  req.resume();
}
call('/test.Echo/Stream', false);
process.stdin.on('data', (d) => {
  if (d.toString().includes('second')) {
    call('/test.Echo/Allowed', true);
  }
});
