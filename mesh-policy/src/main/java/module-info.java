/**
 * Istio and Cilium network policy for zerohop: loading (file:line:field errors) and evaluation
 * with upstream semantics. The API is {@link io.zerohop.policy}; nothing else is exported.
 */
module io.zerohop.policy {
    requires com.fasterxml.jackson.databind;
    requires com.fasterxml.jackson.dataformat.yaml;
    requires com.github.benmanes.caffeine;
    requires org.slf4j;

    exports io.zerohop.policy;
}
