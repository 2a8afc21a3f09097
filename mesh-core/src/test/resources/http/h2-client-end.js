// Node's http2 client that ends a request it left open: MODE "cancel" resets the stream (RST_STREAM CANCEL, the request not ended), "destroy"
// closes the whole connection (a TCP FIN with the stream open). On "/api/head-first" it waits for the
// response's head first; otherwise once the proxy acked a PING sent after its request's HEADERS and first DATA. Prints "done".
// Usage: node h2-client-end.js HOST PORT MODE PATH
const http2 = require('http2');
const [host, port, mode, path] = process.argv.slice(2);
const session = http2.connect(`http://${host}:${port}`);
session.on('error', () => {});
const req = session.request({ ':method': 'POST', ':path': path });
req.on('error', () => {});
const end = () => {
  if (mode === 'cancel') {
    // destroy(), not close(): close() ends the request (END_STREAM) before its RST_STREAM, and the answer could end first.
    req.on('close', () => { session.close(); console.log('done'); });
    req.destroy();
  } else {
    session.destroy();
    console.log('done');
  }
};
if (path === '/api/head-first') {
  req.on('response', end);
  req.write('x');
} else {
  // A PING's ack comes after the proxy read the request's frames before it.
  req.write('x', () => session.ping(end));
}
