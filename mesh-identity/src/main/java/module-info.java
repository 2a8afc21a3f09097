/**
 * SPIFFE identities for zerohop: X.509-SVIDs and trust bundles from pluggable providers
 * (in-memory CA, PEM files, node-mode certificate manager) and TLS 1.3 contexts with SPIFFE peer
 * verification. The API is {@link io.zerohop.identity}; {@code io.zerohop.identity.internal} is
 * shared only with the sibling provider modules (SPIRE, Istio CA), never with users.
 */
module io.zerohop.identity {
    // MeshTls hands out Netty SslContexts; SVIDs, bundles and SPIFFE IDs are java-spiffe types.
    requires transitive io.netty.handler;
    // java-spiffe-core has neither module-info nor Automatic-Module-Name: this name is derived
    // from the jar's file name (see the root README's module note).
    requires transitive java.spiffe.core;
    // Never named in our code, but Netty's OpenSsl finds BoringSSL only if the tcnative classes are in
    // the module graph: without this line a module-path application silently falls back to the JDK
    // provider. (The classifier jar with the native library must be added by the application:
    // --add-modules io.netty.internal.tcnative.openssl.linux.x86_64, see zerohop-bom/README.md.)
    requires io.netty.tcnative.classes.openssl;
    // Never named in our code either: java-spiffe-core's SpiffeId.parse uses commons-lang3 (StringUtils), but an
    // automatic module declares no requires, and commons-lang3 has a real module-info, so nothing resolved it
    // (NoClassDefFoundError: org/apache/commons/lang3/StringUtils without --add-modules org.apache.commons.lang3).
    // java-spiffe's other runtime dependencies (commons-validator ...) are automatic modules, which the JVM
    // resolves with any automatic module.
    requires org.apache.commons.lang3;
    requires com.github.benmanes.caffeine;
    requires org.bouncycastle.pkix;
    requires org.bouncycastle.provider;
    requires org.slf4j;

    exports io.zerohop.identity;
    exports io.zerohop.identity.internal to io.zerohop.identity.istio, io.zerohop.identity.spire, io.zerohop.hbone;
}
