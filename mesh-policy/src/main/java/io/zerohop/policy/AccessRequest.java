package io.zerohop.policy;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Objects;

/**
 * One inbound connection (L4) or request (L7) to authorize.
 *
 * @param sourcePrincipal     verified peer SPIFFE ID ({@code spiffe://td/ns/NS/sa/SA}), null for plaintext;
 *                            refused where a peer's would be (an empty, {@code .} or {@code ..} path segment, a trailing
 *                            {@code /}, a character outside the standard's sets, a scheme or trust domain not in lower
 *                            case; spiffe/spiffe standards/SPIFFE-ID.md 2, java-spiffe's and zerohop's checks)
 * @param sourceAddress       the source address Istio's {@code source.ip}/{@code ipBlocks} (and {@code remote.ip}
 *                            when an HTTP request has no {@code X-Forwarded-For}, as Envoy) and Cilium's CIDR rules
 *                            test: ztunnel's {@code conn.src},
 *                            the source pod's own address; mesh-core gives the peer's, or the pod's
 *                            that a node proxy's believed {@code forwarded: for=} names
 * @param destinationAddress  local address the peer connected to
 * @param destinationPort     destination (target) port, 1..65535
 * @param destination         the workload receiving the connection
 * @param sourceWorkload      the peer workload if the caller knows it (labels for Cilium
 *                            {@code fromEndpoints}); may be null. Namespace and service account
 *                            are taken from the verified SPIFFE ID whenever there is one.
 * @param http                L7 attributes, null when deciding at L4
 * @param sni                 TLS SNI, used by the {@code connection.sni} condition at L7; may be null
 * @param sourceNode          for a source with neither a SPIFFE ID nor a workload: whether its address is a node's own
 *                            (Cilium's {@code reserved:host} for the node that enforces, {@code reserved:remote-node}
 *                            for another), else null (the peer is {@code world} to Cilium). Istio's rules do not read it.
 * <p>The constructor throws {@link IllegalArgumentException} when {@code sourceNode} is given for a source with a SPIFFE
 * ID or a workload (a node is neither), or a field is invalid, and {@link NullPointerException} naming a required
 * field (both addresses, the destination) that is null.
 */
public record AccessRequest(
        String sourcePrincipal,
        InetAddress sourceAddress,
        InetAddress destinationAddress,
        int destinationPort,
        WorkloadRef destination,
        WorkloadRef sourceWorkload,
        HttpAttributes http,
        String sni,
        SourceNode sourceNode) {

    /**
     * Cilium's reserved identities of a node's own addresses (pkg/identity {@code ReservedIdentityHost},
     * {@code ReservedIdentityRemoteNode}): selected by the entities {@code host} / {@code remote-node}, {@code cluster}
     * and {@code all}, never by {@code world} or a CIDR rule (Cilium's default {@code policy-cidr-match-mode}).
     */
    public enum SourceNode {
        /** An address of the node whose proxy enforces: {@code reserved:host}. */
        HOST,
        /** An address of another node of the cluster: {@code reserved:remote-node}. */
        REMOTE_NODE
    }

    public static final String SPIFFE_SCHEME = "spiffe://";

    /**
     * Checks and canonicalises the fields (see the record's parameters).
     *
     * @throws IllegalArgumentException when {@code sourcePrincipal} is no SPIFFE ID, {@code destinationPort} is outside
     *                                  1..65535, or {@code sourceNode} is given for a source with a SPIFFE ID or a workload
     * @throws NullPointerException     naming {@code sourceAddress}, {@code destinationAddress} or {@code destination}
     *                                  when it is null
     */
    public AccessRequest {
        String canonical = null;
        if (sourcePrincipal != null) {
            try {
                canonical = io.zerohop.policy.internal.SpiffeIdSyntax.canonical(sourcePrincipal);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("sourcePrincipal is not a SPIFFE ID: \"" + sourcePrincipal + "\": " + e.getMessage()
                        + " (spiffe/spiffe standards/SPIFFE-ID.md, as a peer's is checked)", e);
            }
        }
        if (sourcePrincipal != null && canonical == null) {
            // A policy's principals are written without the scheme; the peer's is the full ID.
            String hint = sourcePrincipal.contains("://") || sourcePrincipal.isEmpty() ? ""
                    // A bare name is most often a service account written alone (a new user's "frontend"): spiffe://frontend
                    // has no path, so it is no workload's ID either (X509-SVID 4.1); the hint is the policy loader's for
                    // principals: ["frontend"] (IstioRules), as a full ID.
                    : sourcePrincipal.indexOf('/') < 0 ? " (a workload's SPIFFE ID always has a path: spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/"
                            + "SERVICE_ACCOUNT for Istio's, \"spiffe://cluster.local/ns/<namespace>/sa/" + sourcePrincipal + "\"?)"
                    : " (a policy writes principals without the scheme; the request takes the full ID: spiffe://" + sourcePrincipal + ")";
            throw new IllegalArgumentException("sourcePrincipal must be a SPIFFE ID (spiffe://...): \"" + sourcePrincipal + "\"" + hint);
        }
        sourcePrincipal = canonical;
        Objects.requireNonNull(sourceAddress, "sourceAddress");
        Objects.requireNonNull(destinationAddress, "destinationAddress");
        if (destinationPort < 1 || destinationPort > 65535) {
            throw new IllegalArgumentException("destinationPort out of range (1..65535): " + destinationPort);
        }
        Objects.requireNonNull(destination, "destination (the workload the request is for)");
        if (sourceNode != null && (sourcePrincipal != null || sourceWorkload != null)) {
            throw new IllegalArgumentException("sourceNode " + sourceNode + " is for a source with neither a SPIFFE ID nor a"
                    + " workload: a node's address is neither (sourcePrincipal " + sourcePrincipal + ", sourceWorkload "
                    + sourceWorkload + ")");
        }
    }

    /** The request without {@link #sourceNode} (the constructor before it existed). */
    public AccessRequest(String sourcePrincipal, InetAddress sourceAddress, InetAddress destinationAddress, int destinationPort,
                         WorkloadRef destination, WorkloadRef sourceWorkload, HttpAttributes http, String sni) {
        this(sourcePrincipal, sourceAddress, destinationAddress, destinationPort, destination, sourceWorkload, http, sni, null);
    }

    /**
     * A builder with nothing set; {@link Builder#build()} requires the source and destination addresses and the
     * destination workload, and checks every field as this record's constructor does.
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Same request seen at L7. */
    public AccessRequest withHttp(HttpAttributes attributes) {
        return new AccessRequest(sourcePrincipal, sourceAddress, destinationAddress, destinationPort,
                destination, sourceWorkload, attributes, sni, sourceNode);
    }

    /**
     * Builds an {@link AccessRequest}. The setters store their argument as given, null included, and check nothing
     * but the IP-literal forms ({@link #sourceAddress(String)}, {@link #destinationAddress(String)}) and
     * {@link #http(String, String)}; {@link #build()} does every other check, so a bad value throws there.
     */
    public static final class Builder {
        private String sourcePrincipal;
        private InetAddress sourceAddress;
        private InetAddress destinationAddress;
        private int destinationPort;
        private WorkloadRef destination;
        private WorkloadRef sourceWorkload;
        private HttpAttributes http;
        private String sni;
        private SourceNode sourceNode;

        private Builder() {
        }

        /**
         * The peer's verified SPIFFE ID with its scheme ({@code spiffe://cluster.local/ns/NS/sa/SA}; a policy's
         * {@code principals} leave the scheme out, a request does not); null (the default) for a plaintext peer.
         * {@link #build()} throws {@link IllegalArgumentException} for a value that is no SPIFFE ID
         * ({@link AccessRequest#sourcePrincipal}).
         */
        public Builder sourcePrincipal(String spiffeId) {
            this.sourcePrincipal = spiffeId;
            return this;
        }

        /** The peer's address ({@link AccessRequest#sourceAddress}); required: {@link #build()} throws without it. */
        public Builder sourceAddress(InetAddress address) {
            this.sourceAddress = address;
            return this;
        }

        /**
         * Convenience for literal addresses; never does a DNS lookup. Null means no address, as
         * {@code sourceAddress((InetAddress) null)} does.
         *
         * @throws IllegalArgumentException at once when {@code literal} is no IP literal (IPv4: four decimal fields up to
         *                                  255 without leading zeros)
         */
        public Builder sourceAddress(String literal) {
            this.sourceAddress = literal == null ? null : literal(literal);
            return this;
        }

        /**
         * The local address the peer connected to (Istio's {@code destination.ip}); required: {@link #build()} throws
         * without it.
         */
        public Builder destinationAddress(InetAddress address) {
            this.destinationAddress = address;
            return this;
        }

        /**
         * As {@link #sourceAddress(String)}: an IP literal, never looked up in DNS; null means no address.
         *
         * @throws IllegalArgumentException at once when {@code literal} is no IP literal
         */
        public Builder destinationAddress(String literal) {
            this.destinationAddress = literal == null ? null : literal(literal);
            return this;
        }

        /** The destination (target) port; {@link #build()} throws {@link IllegalArgumentException} outside 1..65535. */
        public Builder destinationPort(int port) {
            this.destinationPort = port;
            return this;
        }

        /**
         * The workload receiving the connection (its namespace, service account and labels select the policies);
         * required: {@link #build()} throws without it.
         */
        public Builder destination(WorkloadRef workload) {
            this.destination = workload;
            return this;
        }

        /** The peer's workload when known (labels for Cilium {@code fromEndpoints}); null (the default) when not. */
        public Builder sourceWorkload(WorkloadRef workload) {
            this.sourceWorkload = workload;
            return this;
        }

        /** The request's HTTP attributes to decide at L7; null (the default) decides the connection at L4. */
        public Builder http(HttpAttributes attributes) {
            this.http = attributes;
            return this;
        }

        /**
         * As {@code http(HttpAttributes.of(method, path))}: no host, no headers.
         *
         * @throws NullPointerException at once naming {@code method} or {@code path} when it is null
         */
        public Builder http(String method, String path) {
            this.http = HttpAttributes.of(method, path);
            return this;
        }

        /** The TLS SNI, which Istio's {@code connection.sni} condition reads at L7; null (the default) for none. */
        public Builder sni(String sni) {
            this.sni = sni;
            return this;
        }

        /** {@link AccessRequest#sourceNode}: null (the default) for a source that is no node's address. */
        public Builder sourceNode(SourceNode node) {
            this.sourceNode = node;
            return this;
        }

        /**
         * @throws IllegalArgumentException when the source or destination address was not set: a
         *         default (0.0.0.0) would escape every DENY on {@code ipBlocks}, {@code remoteIpBlocks},
         *         {@code source.ip} or {@code destination.ip}, so a forgotten field would widen access;
         *         when the destination workload was not set; or when a field is invalid (see the record)
         */
        public AccessRequest build() {
            if (sourceAddress == null || destinationAddress == null) {
                throw new IllegalArgumentException((sourceAddress == null ? "sourceAddress" : "destinationAddress")
                        + " is required: ipBlocks, source.ip and destination.ip rules test it, and no default could"
                        + " stand for the real one without escaping a DENY");
            }
            if (destination == null) {
                throw new IllegalArgumentException("destination is required: the workload the request is for (its namespace, "
                        + "service account and labels select the policies): destination(new WorkloadRef(namespace, name, "
                        + "serviceAccount, labels))");
            }
            return new AccessRequest(sourcePrincipal, sourceAddress, destinationAddress, destinationPort,
                    destination, sourceWorkload, http, sni, sourceNode);
        }

        private static InetAddress literal(String literal) {
            // Only IP literals are accepted: a hostname here would mean a blocking DNS lookup.
            boolean ok = !literal.isEmpty();
            boolean v6 = literal.indexOf(':') >= 0;
            for (int i = 0; ok && i < literal.length(); i++) {
                char c = literal.charAt(i);
                ok = v6 ? Character.digit(c, 16) >= 0 || c == ':' || c == '.' : (c >= '0' && c <= '9') || c == '.';
            }
            if (ok && !v6) {
                // Built here, not by the JDK: it reads 10.1 as 10.0.0.1, 127.1 as 127.0.0.1 and 010.0.0.1 as 10.0.0.1
                // (inet_aton's forms), and looks 300.1.1.1 up in DNS; the policies' addresses are read as Go's netip
                // reads them (four decimal fields up to 255, no leading zero), and so is this one.
                String[] parts = literal.split("\\.", -1);
                byte[] b = new byte[4];
                ok = parts.length == 4;
                for (int i = 0; ok && i < 4; i++) {
                    ok = parts[i].matches("0|[1-9][0-9]{0,2}") && Integer.parseInt(parts[i]) <= 255;
                    b[i] = ok ? (byte) Integer.parseInt(parts[i]) : 0;
                }
                if (ok) {
                    try {
                        return InetAddress.getByAddress(b);
                    } catch (UnknownHostException e) {
                        throw new IllegalStateException(e); // four bytes are always an address
                    }
                }
            }
            if (!ok) {
                throw new IllegalArgumentException("not an IP literal: " + literal
                        + (v6 ? "" : " (IPv4: four decimal fields up to 255 without leading zeros, as the policies' addresses)"));
            }
            try {
                return InetAddress.getByName(literal);
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("not an IP literal: " + literal, e);
            }
        }
    }
}
