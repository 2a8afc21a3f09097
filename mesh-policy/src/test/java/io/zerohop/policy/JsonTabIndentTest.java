package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A JSON export indented with tabs ({@code kubectl get authorizationpolicies -A -o json | jq --tab .}) loads as kubectl
 * applies it: kubectl reads a stream starting with {@code {} as JSON, where a tab is white space (k8s.io/apimachinery
 * {@code yaml.NewYAMLOrJSONDecoder}). Until 3 December zerohop refused it at line 2 ("a tab character in the
 * indentation"). A block YAML document indented with a tab is still an error, in the same file too.
 */
class JsonTabIndentTest {

    /** What {@code jq --tab .} prints for a one-item list (Python's {@code json.dumps(indent='\t')} prints the same). */
    private static final String TABBED = """
            {
            \t"apiVersion": "v1",
            \t"items": [
            \t\t{
            \t\t\t"apiVersion": "security.istio.io/v1",
            \t\t\t"kind": "AuthorizationPolicy",
            \t\t\t"metadata": {
            \t\t\t\t"name": "deny-legacy",
            \t\t\t\t"namespace": "prod"
            \t\t\t},
            \t\t\t"spec": {
            \t\t\t\t"action": "DENY",
            \t\t\t\t"rules": [
            \t\t\t\t\t{
            \t\t\t\t\t\t"from": [
            \t\t\t\t\t\t\t{
            \t\t\t\t\t\t\t\t"source": {
            \t\t\t\t\t\t\t\t\t"namespaces": [
            \t\t\t\t\t\t\t\t\t\t"legacy"
            \t\t\t\t\t\t\t\t\t]
            \t\t\t\t\t\t\t\t}
            \t\t\t\t\t\t\t}
            \t\t\t\t\t\t]
            \t\t\t\t\t}
            \t\t\t\t]
            \t\t\t}
            \t\t}
            \t],
            \t"kind": "List",
            \t"metadata": {
            \t\t"resourceVersion": ""
            \t}
            }
            """;

    private static Decision fromLegacy(PolicySet set) {
        return PolicyEngine.builder().policies(set).build().evaluate(AccessRequest.builder()
                .sourcePrincipal("spiffe://cluster.local/ns/legacy/sa/old").sourceAddress("10.0.0.1").destinationAddress("10.0.0.2")
                .destinationPort(8080).destination(new WorkloadRef("prod", "web", "web", Map.of("app", "web"))).build());
    }

    @Test
    void aTabIndentedJsonListLoadsAsItsSpaceIndentedTwin() throws Exception {
        PolicySet tabbed = PolicyLoader.fromString("aps.json", TABBED);
        PolicySet spaced = PolicyLoader.fromString("aps.json", TABBED.replace("\t", "  "));
        assertThat(tabbed.policies()).isEqualTo(spaced.policies()).hasSize(1);
        assertThat(tabbed.policies().get(0).qualifiedName()).isEqualTo("prod/deny-legacy");
        assertThat(fromLegacy(tabbed).allowed()).isFalse();
        assertThat(fromLegacy(tabbed).explain()).isEqualTo(fromLegacy(spaced).explain());
    }

    /** Lines and fields of an error are those of the file as written: a tab became one space, not a tab stop. */
    @Test
    void anErrorInATabIndentedJsonNamesItsLineAndField() {
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromString("aps.json", TABBED.replace("\"DENY\"", "\"DENNY\"")));
        assertThat(e.line()).isEqualTo(12);
        assertThat(e.getMessage()).startsWith("aps.json:12: items[0].spec.action: ");
    }

    /** The JSON document's tabs are white space; the block document after it is still refused for its tab, at its line. */
    @Test
    void aBlockDocumentIndentedWithATabIsStillRefused() {
        String yaml = TABBED + """
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                \tname: other
                """;
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("mixed.yaml", yaml));
        assertThat(e).isNotNull();
        assertThat(e.line()).isEqualTo(TABBED.split("\n").length + 5);
        assertThat(e.problem()).contains("a tab character (\\t) in the indentation");
    }

    /** A document that starts as block YAML and holds a flow mapping is block YAML: its tab indentation is refused. */
    @Test
    void aFlowMappingInsideABlockDocumentIsNotJson() {
        String yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {\n\tname: x, namespace: prod}\nspec: {}\n";
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("b.yaml", yaml));
        assertThat(e).isNotNull();
        assertThat(e.line()).isEqualTo(4);
    }
}
