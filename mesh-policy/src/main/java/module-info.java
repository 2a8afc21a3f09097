/**
 * Istio and Cilium network policy for zerohop: loading (file:line:field errors) and evaluation
 * with upstream semantics. The API is {@link io.zerohop.policy}; nothing else is exported.
 */
module io.zerohop.policy {
    requires org.yaml.snakeyaml;
    // RE2J 1.8 ships no Automatic-Module-Name: its module name comes from the jar's file name.
    requires re2j;
    requires com.github.benmanes.caffeine;
    requires org.slf4j;
    requires com.fasterxml.jackson.databind;

    exports io.zerohop.policy;
    // YamlDocuments for mesh-core's workload registry: its YAML syntax errors read as policy files' do
    // (file:line: field: reason, a tab named as one). mesh-core sits on top of this module; nothing else sees it.
    exports io.zerohop.policy.internal to io.zerohop.core;
}
