// A benign Node http2 (nghttp2) HBONE client whose frames cross the server's resets: over one mTLS
// connection it opens CONNECT streams, 20 per turn of the event loop; on each 200 an even stream sends
// 4 KiB, then END_STREAM a turn later (which crosses the server's RST_STREAM when the upstream resets
// on reading the 4 KiB), an odd one cancels (RST_STREAM CANCEL) on its first DATA while the server
// still sends. Prints one JSON line: {"goaway": CODE} when a GOAWAY was read, else
// {"goaway": null, "closed": N, "answered": N, "statuses": {...}, "errors": {...}, "session": "open"|"closed"}
// once every stream closed.
// Usage: node race-client.js HOST:PORT AUTHORITY CERT KEY CA EXPECTED_SERVER_ID STREAMS
'use strict';
const http2 = require('http2');
const fs = require('fs');

const [hbone, authority, certFile, keyFile, caFile, expectedServer, streamsArg] = process.argv.slice(2);
if (!streamsArg) {
  console.error('usage: node race-client.js HOST:PORT AUTHORITY CERT KEY CA EXPECTED_SERVER_ID STREAMS');
  process.exit(2);
}
const streams = Number(streamsArg);

function uriSan(cert) {
  const sans = (cert && cert.subjectaltname || '').split(', ').filter((s) => s.startsWith('URI:'));
  return sans.length === 1 ? sans[0].slice(4) : null;
}

let reported = false;
function report(r) {
  if (!reported) {
    reported = true;
    console.log(JSON.stringify(r));
    process.exit(0);
  }
}

const session = http2.connect('https://' + hbone, {
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  ca: fs.readFileSync(caFile),
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ALPNProtocols: ['h2'],
  checkServerIdentity: (host, cert) => {
    const id = uriSan(cert);
    return id === expectedServer ? undefined : new Error('server identity ' + id + ' is not ' + expectedServer);
  },
});
session.on('goaway', (code) => report({ goaway: code }));
session.on('error', (e) => report({ goaway: null, end: 'error ' + (e.code || e.message) }));
session.on('close', () => report({ goaway: null, end: 'closed' }));

const upload = Buffer.alloc(4096, 0x61);
let sent = 0;
let closed = 0;
let answered = 0;
const statuses = {};
const errors = {};
function burst() {
  if (reported || session.closed || session.destroyed) {
    return;
  }
  for (let i = 0; i < 20 && sent < streams; i++, sent++) {
    const even = sent % 2 === 0;
    const req = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
    req.on('error', (e) => { errors[e.code || e.message] = (errors[e.code || e.message] || 0) + 1; });
    req.on('response', (headers) => {
      if (headers[':status'] === 200) {
        answered++;
      }
      statuses[headers[':status']] = (statuses[headers[':status']] || 0) + 1;
      if (even) {
        req.write(upload);
        setImmediate(() => req.end());
      }
    });
    req.on('data', () => {
      if (!even && !req.closed) {
        req.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    req.on('close', () => {
      if (++closed === streams) {
        // A last turn of the loop for a GOAWAY read with the last frames.
        setImmediate(() => report({ goaway: null, closed, answered, statuses, errors, session: session.closed || session.destroyed ? 'closed' : 'open' }));
      }
    });
  }
  if (sent < streams) {
    setImmediate(burst);
  }
}
session.on('connect', burst);
