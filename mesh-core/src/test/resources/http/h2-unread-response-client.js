// Node's http2 client for L7H2ResponseHeadOfLineTest: on one connection, whose own receive window it opens to 16 MiB
// (so that only the peer's windows decide), GET A, whose response it never reads (the stream is left paused), and once
// A's response head has come, GET B, read whole. Prints "A STATUS" at A's head, then "B STATUS LENGTH" at B's end.
// Usage: node h2-unread-response-client.js URL PATH_A PATH_B
const http2 = require('http2');
const [url, pathA, pathB] = process.argv.slice(2);
const session = http2.connect(url);
session.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
session.on('connect', () => session.setLocalWindowSize(16 << 20));
const a = session.request({ ':path': pathA });
a.on('error', () => {});
a.on('response', (h) => {
  console.log('A ' + h[':status']);
  const b = session.request({ ':path': pathB });
  let status = 0, n = 0;
  b.on('response', (hb) => { status = hb[':status']; });
  b.on('data', (d) => { n += d.length; });
  b.on('end', () => { console.log(`B ${status} ${n}`); process.exit(0); });
  b.on('error', (e) => { console.log('B error ' + e.message); process.exit(1); });
});
