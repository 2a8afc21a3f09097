package io.zerohop.hbone.interop;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.Pem;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;

/**
 * A fresh in-memory CA per test class, its {@link MeshTls} for our side, and PEM files of SVIDs it
 * issued for the peers (node, nghttpx), all under one temporary directory.
 */
final class Pki implements AutoCloseable {
    static final String TRUST_DOMAIN = "cluster.local";

    final InMemoryCa ca;
    final MeshTls tls;
    final Path dir;
    final Path caFile;

    /** Certificate chain and key files of one SVID. */
    record PemFiles(SpiffeId id, Path cert, Path key) {
        String certPath() {
            return cert.toString();
        }

        String keyPath() {
            return key.toString();
        }
    }

    Pki(Path dir) throws IOException {
        this(InMemoryCa.create(TRUST_DOMAIN), dir);
    }

    Pki(InMemoryCa ca, Path dir) throws IOException {
        this.ca = ca;
        this.tls = MeshTls.builder(ca).build();
        this.dir = dir;
        this.caFile = dir.resolve("ca.pem");
        Pem.write(caFile, Pem.certificates(List.of(ca.root())), false);
    }

    /** Issues an SVID for {@code id} and writes {@code NAME.pem} (chain) and {@code NAME.key}. */
    PemFiles write(String name, SpiffeId id) {
        X509Svid svid = ca.issue(id);
        Path cert = dir.resolve(name + ".pem");
        Path key = dir.resolve(name + ".key");
        try {
            Pem.write(cert, Pem.certificates(svid.getChain()), false);
            Pem.write(key, Pem.privateKey(svid.getPrivateKey()), true);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new PemFiles(id, cert, key);
    }

    @Override
    public void close() {
        tls.close();
        ca.close();
    }
}
