/**
 * The SPIFFE Workload API identity provider
 * ({@link io.zerohop.identity.spire.SpireIdentityProvider}), in its own module so that only its
 * users depend on gRPC (java-spiffe's Workload API client).
 */
module io.zerohop.identity.spire {
    requires transitive io.zerohop.identity;
    requires org.slf4j;
    requires java.logging;

    exports io.zerohop.identity.spire;
}
