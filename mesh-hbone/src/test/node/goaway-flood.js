// A rapid-reset client on Node's http2 (nghttp2): over one mTLS HBONE connection it opens CONNECT
// streams and cancels each (RST_STREAM CANCEL) a millisecond later, 20 per turn of the event loop,
// until the server answers with GOAWAY or the connection ends. Prints one JSON line:
// {"goaway": CODE} when a GOAWAY was read, else {"goaway": null, "end": "<how the connection ended>"}.
// Usage: node goaway-flood.js HOST:PORT AUTHORITY CERT KEY CA EXPECTED_SERVER_ID PAIRS
'use strict';
const http2 = require('http2');
const fs = require('fs');

const [hbone, authority, certFile, keyFile, caFile, expectedServer, pairsArg] = process.argv.slice(2);
if (!pairsArg) {
  console.error('usage: node goaway-flood.js HOST:PORT AUTHORITY CERT KEY CA EXPECTED_SERVER_ID PAIRS');
  process.exit(2);
}
const pairs = Number(pairsArg);

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

let sent = 0;
let responses = 0;
function burst() {
  if (reported || session.closed || session.destroyed) {
    return;
  }
  for (let i = 0; i < 20 && sent < pairs; i++, sent++) {
    let req;
    try {
      req = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
    } catch (e) {
      return; // the session is going away: its 'goaway' or 'close' reports
    }
    req.on('error', () => {});
    req.on('response', () => responses++);
    // Cancelled before its HEADERS are written, nghttp2 would send nothing: reset once they are out.
    // Not at once: nghttp2 drops a stream cancelled before its HEADERS went out, sending nothing. 1 ms
    // was too short on a loaded machine (CI: "no GOAWAY after 3000 pairs", the server having seen fewer
    // than 6 resets): the timers fired before the session wrote. The upstream never answers (its accept
    // queue is full), so any delay short of the server's 60 s connect timeout is still a reset before the
    // answer, which is what the budget counts.
    setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), 25);
  }
  if (sent < pairs) {
    setImmediate(burst);
  } else {
    setTimeout(() => report({ goaway: null, end: 'no GOAWAY after ' + sent + ' pairs, ' + responses + ' answered' }), 10000);
  }
}
session.on('connect', burst);
