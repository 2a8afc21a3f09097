// An independent HBONE client written on Node's http2 module: mTLS 1.3, ALPN h2, checks the
// server's SPIFFE ID, opens N concurrent CONNECT tunnels, sends BYTES pseudo-random bytes on each,
// half-closes, reads the echo, and prints one JSON line with status and SHA-256 of both directions.
// Usage: node hbone-client.js HOST:PORT AUTHORITY CERT KEY CA EXPECTED_SERVER_ID BYTES [STREAMS] [MODE]
// MODE "halfclose" (default): END_STREAM after the last byte, the tunnel ends when the echo ends.
// MODE "count": no half-close (for peers such as nghttpx that tear a tunnel down on END_STREAM):
// read the echo until BYTES came back, then cancel the stream.
'use strict';
const http2 = require('http2');
const fs = require('fs');
const crypto = require('crypto');

const [hbone, authority, certFile, keyFile, caFile, expectedServer, bytesArg, streamsArg, modeArg] = process.argv.slice(2);
if (!bytesArg) {
  console.error('usage: node hbone-client.js HOST:PORT AUTHORITY CERT KEY CA EXPECTED_SERVER_ID BYTES [STREAMS] [halfclose|count]');
  process.exit(2);
}
const total = Number(bytesArg);
const streams = Number(streamsArg || 1);
const halfClose = (modeArg || 'halfclose') === 'halfclose';
if (!['halfclose', 'count'].includes(modeArg || 'halfclose')) {
  console.error('MODE must be halfclose or count, got ' + modeArg);
  process.exit(2);
}

function uriSan(cert) {
  const sans = (cert && cert.subjectaltname || '').split(', ').filter((s) => s.startsWith('URI:'));
  return sans.length === 1 ? sans[0].slice(4) : null;
}

const session = http2.connect('https://' + hbone, {
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  ca: fs.readFileSync(caFile),
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ALPNProtocols: ['h2'],
  settings: { initialWindowSize: 4 << 20 },
  checkServerIdentity: (host, cert) => {
    const id = uriSan(cert);
    return id === expectedServer ? undefined : new Error('server identity ' + id + ' is not ' + expectedServer);
  },
});
// An HBONE peer's connection receive window, as ztunnel opens it (src/config.rs: 16 MiB, with 4 MiB
// per stream; zerohop's H2Config the same). Node's http2 leaves the connection at the protocol's
// 65,535 bytes, so 64 tunnels echoing at once shared 64 KiB in flight: Node slept and woke
// 1,140-1,300 times for a 64 x 1 MiB echo instead of ~225, each wake-up a wait for a CPU under load
// (28 s of NodeRun's 40 s at load 16-19).
let connectionWindow = 0;
session.on('connect', () => {
  session.setLocalWindowSize(16 << 20);
  connectionWindow = session.state.localWindowSize; // as granted, before any data is received
});
session.on('error', (e) => {
  console.log(JSON.stringify({ error: e.message }));
  process.exit(1);
});

function tunnel() {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'CONNECT', ':authority': authority });
    const sent = crypto.createHash('sha256');
    const got = crypto.createHash('sha256');
    let received = 0;
    let status = 0;
    let done = false;
    const finish = (r) => {
      if (!done) {
        done = true;
        resolve(r());
      }
    };
    const result = () => ({ status, received, sent: sent.digest('hex'), got: got.digest('hex') });
    req.on('response', (h) => {
      status = h[':status'];
      if (status !== 200) {
        return;
      }
      let left = total;
      const pump = () => {
        while (left > 0) {
          const chunk = crypto.randomBytes(Math.min(left, 64 * 1024));
          left -= chunk.length;
          sent.update(chunk);
          if (!req.write(chunk)) {
            return req.once('drain', pump);
          }
        }
        if (halfClose) {
          req.end();
        }
      };
      pump();
    });
    req.on('data', (d) => {
      received += d.length;
      got.update(d);
      if (!halfClose && received >= total) {
        finish(result);
        req.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    req.on('end', () => finish(result));
    req.on('close', () => finish(() => ({ status, received, error: 'stream closed before the echo ended' })));
    req.on('error', (e) => finish(() => ({ status, received, error: e.message })));
  });
}

Promise.all(Array.from({ length: streams }, tunnel)).then((results) => {
  const ok = results.every((r) => r.status === 200 && r.received === total && r.sent === r.got);
  console.log(JSON.stringify({ ok, streams: results.length, statuses: [...new Set(results.map((r) => r.status))],
    first: results[0], connectionWindow }));
  session.close();
  process.exit(ok ? 0 : 1);
});
