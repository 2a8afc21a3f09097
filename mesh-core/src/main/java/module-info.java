/**
 * The zerohop {@link io.zerohop.core.Mesh}: identity, policy and HBONE wired together, the
 * workload registry, enforcement, metrics and access log. The API is {@link io.zerohop.core};
 * {@code io.zerohop.core.internal} is not exported.
 */
module io.zerohop.core {
    requires transitive io.zerohop.hbone;
    requires transitive io.zerohop.identity;
    requires transitive io.zerohop.policy;
    requires com.fasterxml.jackson.databind;
    requires com.github.benmanes.caffeine;
    // WorkloadRegistry's event scan (aliases, merge keys, documents) before mesh-policy's YamlDocuments reads the tree.
    requires org.yaml.snakeyaml;
    requires io.netty.buffer;
    requires io.netty.codec;
    requires io.netty.codec.http;
    requires io.netty.codec.http2;
    requires io.netty.codec.socks;
    requires io.netty.handler;
    requires io.netty.common;
    requires io.netty.transport;
    requires io.netty.resolver;
    requires io.netty.resolver.dns;
    requires io.netty.transport.classes.epoll;
    requires io.netty.transport.unix.common;
    // Optional (Mesh.Builder.meterRegistry): micrometer-core has only an Automatic-Module-Name.
    requires static micrometer.core;
    requires org.slf4j;
    // RequestAuthentication: JWK parsing and JWS signatures (internal.http.Jwks); remote key sets fetched with the JDK's
    // HTTP client, off the event loops (internal.http.JwksCache).
    requires com.nimbusds.jose.jwt;
    requires java.net.http;

    exports io.zerohop.core;
}
