package io.zerohop.identity.internal;

import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.Pem;
import io.zerohop.identity.SvidVerifier;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Map;

/**
 * The PEM files of one workload identity (a cert-manager {@code Certificate} secret's
 * {@code tls.crt}, {@code tls.key}, {@code ca.crt}, or Vault agent's files, plus federated
 * bundles): reads them together and turns their contents into one validated SVID and bundle set.
 * Its one job is read-and-validate; watching and installing are
 * {@link io.zerohop.identity.PemFileIdentityProvider}'s. Validation follows the X.509-SVID
 * standard (SPIFFE {@code standards/X509-SVID.md}: one URI SAN, leaf key, chain to the trust
 * domain's bundle), via {@link Svids} and {@link SvidVerifier}.
 */
public final class PemFiles {

    /** Everything installed together, so readers never see an SVID with another load's bundles. */
    public record Material(X509Svid svid, X509BundleSet bundles, List<byte[]> contents) {}

    private final Path certFile;
    private final Path keyFile;
    private final Path bundleFile;
    private final Map<TrustDomain, Path> federated;
    private final Clock clock;

    /** @param federated trust domain to its bundle file; copied */
    public PemFiles(Path certFile, Path keyFile, Path bundleFile, Map<TrustDomain, Path> federated, Clock clock) {
        this.certFile = certFile;
        this.keyFile = keyFile;
        this.bundleFile = bundleFile;
        this.federated = Map.copyOf(federated);
        this.clock = clock;
    }

    /** Chain, key, bundle, then the federated bundles: the order of {@link #readAll()}. */
    public List<Path> allFiles() {
        List<Path> all = new ArrayList<>(3 + federated.size());
        all.add(certFile);
        all.add(keyFile);
        all.add(bundleFile);
        all.addAll(federated.values());
        return all;
    }

    /** The files, for messages. */
    public String files() {
        return allFiles().toString();
    }

    /** Every file's bytes, read now; a missing file fails naming it. */
    public List<byte[]> readAll() throws IOException {
        List<byte[]> out = new ArrayList<>();
        for (Path p : allFiles()) {
            try {
                out.add(Files.readAllBytes(p));
            } catch (NoSuchFileException e) {
                throw new NoSuchFileException(p.toString(), null, "file not found");
            }
        }
        return out;
    }

    public static boolean sameContents(List<byte[]> a, List<byte[]> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (!Arrays.equals(a.get(i), b.get(i))) {
                return false;
            }
        }
        return true;
    }

    /**
     * The identity the contents hold, validated: chain, key matching the leaf, the leaf verified
     * against the bundle at the clock's now, and (if {@code expected} is not null) the same SPIFFE ID.
     *
     * @throws GeneralSecurityException naming the file(s) and what is wrong
     */
    public Material parse(List<byte[]> contents, SpiffeId expected) throws GeneralSecurityException {
        List<X509Certificate> chain = certificates(certFile, contents.get(0));
        PrivateKey key;
        try {
            key = Svids.parsePrivateKey(ascii(contents.get(1)));
        } catch (GeneralSecurityException e) {
            throw new GeneralSecurityException(keyFile + ": " + e.getMessage(), e);
        }
        X509Svid svid;
        try {
            svid = Svids.of(chain, key);
        } catch (GeneralSecurityException e) {
            throw new GeneralSecurityException(certFile + " with " + keyFile + ": " + e.getMessage(), e);
        }
        SpiffeId id = svid.getSpiffeId();
        if (expected != null && !expected.equals(id)) {
            throw new GeneralSecurityException(certFile + ": SPIFFE ID changed from " + expected + " to " + id
                    + "; a provider serves one identity, restart to change it");
        }
        List<X509Certificate> roots = certificates(bundleFile, contents.get(2));
        List<X509Bundle> bundles = new ArrayList<>();
        bundles.add(new X509Bundle(id.getTrustDomain(), new HashSet<>(roots)));
        int i = 3;
        for (Map.Entry<TrustDomain, Path> e : federated.entrySet()) {
            if (e.getKey().equals(id.getTrustDomain())) {
                throw new GeneralSecurityException(e.getValue() + ": federated bundle for " + e.getKey()
                        + " is the SVID's own trust domain; put those roots in " + bundleFile);
            }
            bundles.add(new X509Bundle(e.getKey(), new HashSet<>(certificates(e.getValue(), contents.get(i++)))));
        }
        X509BundleSet set = X509BundleSet.of(bundles);
        try {
            SvidVerifier.verify(svid.getChainArray(), set, Date.from(clock.instant()));
        } catch (CertificateException e) {
            throw new GeneralSecurityException(certFile + " against " + bundleFile + ": " + e.getMessage(), e);
        }
        return new Material(svid, set, contents);
    }

    private static List<X509Certificate> certificates(Path file, byte[] content) throws GeneralSecurityException {
        List<X509Certificate> certs;
        try {
            certs = Pem.parseCertificates(ascii(content));
        } catch (CertificateException | IllegalArgumentException e) {
            throw new GeneralSecurityException(file + ": unparsable certificate PEM (" + e.getMessage() + ")", e);
        }
        if (certs.isEmpty()) {
            throw new GeneralSecurityException(file + ": no CERTIFICATE block found");
        }
        return certs;
    }

    private static String ascii(byte[] b) {
        return new String(b, StandardCharsets.US_ASCII);
    }
}
