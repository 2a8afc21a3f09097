package io.zerohop.core.http;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * The {@code x-forwarded-client-cert} an Istio waypoint's Envoy writes for a peer whose SVID {@code ca} issued,
 * worked out here from the certificate itself (not from zerohop's code): {@code By}, then {@code Hash} (lower-case
 * hex SHA-256 of the leaf DER), {@code Subject} in quotes (empty: InMemoryCa's leaves have no subject, as istiod's,
 * so Envoy in an Istio mesh writes {@code Subject=""}), {@code URI}.
 */
final class Xfcc {
    private Xfcc() {
    }

    static String expected(InMemoryCa ca, String local, String peer) throws Exception {
        byte[] der = ca.svid(SpiffeId.parse(peer)).get().getLeaf().getEncoded();
        String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(der));
        return "By=" + local + ";Hash=" + hash + ";Subject=\"\";URI=" + peer;
    }

    static String backendFromFrontend(InMemoryCa ca) throws Exception {
        return expected(ca, "spiffe://cluster.local/ns/prod/sa/backend", "spiffe://cluster.local/ns/prod/sa/frontend");
    }
}
