// An independent HBONE server written on Node's http2 module: mTLS 1.3, ALPN h2, CONNECT only.
// Each accepted tunnel is echoed back (byte for byte) after a 200, so the Java client can checksum.
// Usage: node hbone-server.js CERT KEY CA EXPECTED_CLIENT_SPIFFE_ID
// Prints one JSON line {"port": N} when listening; logs one JSON line per stream to stderr.
'use strict';
const http2 = require('http2');
const fs = require('fs');

const [certFile, keyFile, caFile, expectedClient] = process.argv.slice(2);
if (!expectedClient) {
  console.error('usage: node hbone-server.js CERT KEY CA EXPECTED_CLIENT_SPIFFE_ID');
  process.exit(2);
}

function uriSan(cert) {
  const sans = (cert && cert.subjectaltname || '').split(', ').filter((s) => s.startsWith('URI:'));
  return sans.length === 1 ? sans[0].slice(4) : null;
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  ca: fs.readFileSync(caFile),
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ALPNProtocols: ['h2'],
  settings: { initialWindowSize: 4 << 20, maxFrameSize: 1 << 20 },
});

server.on('stream', (stream, headers) => {
  const peer = uriSan(stream.session.socket.getPeerCertificate());
  const log = (status, why) => console.error(JSON.stringify({ peer, authority: headers[':authority'], status, why }));
  if (headers[':method'] !== 'CONNECT') {
    stream.respond({ ':status': 405 }, { endStream: true });
    return log(405, 'method');
  }
  if (peer !== expectedClient) {
    stream.respond({ ':status': 401 }, { endStream: true });
    return log(401, 'peer ' + peer + ' is not ' + expectedClient);
  }
  stream.respond({ ':status': 200 });
  log(200, 'echo');
  stream.pipe(stream); // END_STREAM from the client ends our side too (half-close preserved)
  stream.on('error', () => {});
});
server.on('sessionError', () => {});
server.on('tlsClientError', (e) => console.error(JSON.stringify({ tlsError: e.message })));
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.stdin.on('end', () => process.exit(0)); // parent closes stdin to stop us
process.stdin.resume();
