package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.zerohop.policy.Decision.Outcome;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A table of conformance cases, each taken from an upstream source (test, testdata, validation
 * code or documentation) and tagged with it. The facts are upstream's; the YAML and code are ours.
 */
final class Upstream {

    static final String ISTIO_VALIDATION_TEST = "istio/istio pkg/config/validation/validation_test.go";
    static final String ISTIO_SECURITY = "istio/istio pkg/config/security/security.go";
    static final String ISTIO_CRD = "istio/api kubernetes/customresourcedefinitions.gen.yaml";
    static final String ISTIO_AMBIENT_TEST = "istio/istio pilot/pkg/serviceregistry/ambient/authorization_test.go";
    static final String ISTIO_AMBIENT_PA_TESTDATA = "istio/istio pilot/pkg/serviceregistry/ambient/testdata/peer-authn-*.yaml (TestRBACConvert)";
    static final String ISTIO_AMBIENT_INDEX_TEST = "istio/istio pilot/pkg/serviceregistry/ambient/ambientindex_test.go (TestAmbientIndex_Policy)";
    static final String ISTIO_AMBIENT_CONVERSION = "istio/istio pilot/pkg/serviceregistry/ambient/authorization.go (convertedSelectorPeerAuthentications)";
    static final String ISTIO_AMBIENT_HANDLE_RULE = "istio/istio pilot/pkg/serviceregistry/ambient/authorization.go (handleRule, l4WhenAttributes)";
    static final String ISTIO_BUILDER_TESTDATA = "istio/istio pilot/pkg/security/authz/builder/testdata/http";
    static final String ISTIO_NORMALIZATION = "istio.io docs/reference/config/security/normalization";
    static final String ISTIO_VALIDATION = "istio/istio pkg/config/validation/validation.go (validateOneOfSelectorType, validatePolicyTargetReference)";
    static final String ISTIO_AMBIENT_FETCH = "istio/istio pilot/pkg/serviceregistry/ambient/workloads.go (fetchPeerAuthentications)";
    static final String ISTIO_VALIDATION_AP = "istio/istio pkg/config/validation/validation.go (ValidateAuthorizationPolicy,"
            + " ValidatePeerAuthentication, validatePolicyTargetReference: the checks validation_test.go has no case for)";
    static final String ISTIO_API_PROTO = "istio/api security/v1beta1/authorization_policy.proto (documented semantics)";
    static final String ISTIO_SECURITY_TEST = "istio/istio pkg/config/security/security_test.go";
    static final String ISTIO_AMBIENT_TESTDATA = "istio/istio pilot/pkg/serviceregistry/ambient/testdata/{allow-full,allow-groups,deny-groups}-in.yaml (TestRBACConvert)";
    static final String ISTIO_GENERATOR = "istio/istio pilot/pkg/security/authz/model/generator.go + authz/matcher (header.go, string.go)";
    static final String ENVOY_STRING_MATCHER = "envoyproxy/envoy source/common/common/matchers.cc (StringMatcherImpl ignore_case: absl::EqualsIgnoreCase, ASCII) + istio/istio pilot/pkg/security/authz/matcher/header.go (HostMatcher)";
    static final String ENVOY_HEADER_MAP = "envoyproxy/envoy source/common/http/header_map_impl.cc (StaticLookupTable: host is :authority)";
    static final String ZTUNNEL_RBAC = "istio/ztunnel src/rbac.rs";
    static final String ZTUNNEL_STATE = "istio/ztunnel src/state.rs";
    static final String CILIUM_RULE_VALIDATION = "cilium/cilium pkg/policy/api/rule_validation.go + rule_validation_test.go";
    static final String CILIUM_POLICY_UTILS = "cilium/cilium pkg/policy/utils/utils.go (RulesToPolicyEntries, mergeEndpointSelectors)";
    static final String CILIUM_RULE_DOC = "cilium/cilium pkg/policy/api/rule.go (Rule.EnableDefaultDeny doc) + docs.cilium.io security/policy/deny";
    static final String CILIUM_CLUSTER_LABEL = "cilium/cilium pkg/k8s/apis/cilium.io/const.go (PolicyLabelCluster) + option cluster-name (default \"default\")";
    static final String CILIUM_NORMALIZE = "cilium/cilium pkg/envoy/xds_server.go + daemon/cmd/daemon_main.go (flag http-normalize-path, default true: normalize_path, merge_slashes, UNESCAPE_AND_REDIRECT)";
    static final String CILIUM_ENTITY = "cilium/cilium pkg/policy/api/entity.go";
    static final String CILIUM_L4 = "cilium/cilium pkg/policy/api/l4.go";
    static final String CILIUM_XDS = "cilium/cilium pkg/envoy/xds_server.go (getHTTPRule)";
    static final String ENVOY_XFF = "envoyproxy/envoy source/common/http/utility.cc (getLastAddressFromXFF) + conn_manager_utility.cc; istio/istio listener_builder.go, listener_waypoint.go (UseRemoteAddress false)";
    static final String ENVOY_URI_TEMPLATE = "envoyproxy/envoy source/extensions/path/uri_template_lib/uri_template_internal.cc (kLiteral, with = and, since 1.35.0 / envoyproxy/envoy#39169, *) + uri_template_internal_test.cc";
    static final String CILIUM_LABELS_EXTENDED_KEY = "cilium/cilium pkg/labels/labels_test.go (TestGetExtendedKeyFrom: key1=value1 is any.key1, $world=value1 is reserved.world; ParseSource: a leading $ is the reserved source)";
    static final String CILIUM_EXTENDED_KEY = "cilium/cilium pkg/policy/api/selector.go (EndpointSelector.UnmarshalJSON: matchLabels keyed by labels.GetExtendedKeyFrom, pkg/labels: app is any.app, k8s:app is k8s.app)";
    static final String CILIUM_K8S_UTILS = "cilium/cilium pkg/k8s/apis/cilium.io/utils/utils.go + utils_test.go (getEndpointSelector, ParseToCiliumRule)";
    static final String CILIUM_CONST = "cilium/cilium pkg/k8s/apis/cilium.io/const.go (PodNamespaceMetaLabels)";
    static final String ZEROHOP_UNKNOWN_LABELS = "zerohop: a peer known by SPIFFE ID only has unknown labels (README Cilium, fail closed)";
    static final String CILIUM_CRD = "cilium/cilium pkg/k8s/apis/cilium.io/client/crds/v2";
    static final String RE2_SYNTAX = "google/re2 doc/syntax (RE2J)";
    static final String YAML_KUBECTL = "YAML 1.1 as kubectl reads it (sigs.k8s.io/yaml, go-yaml)";
    static final String GO_NETIP = "golang/go src/net/netip (::ffff:a.b.c.d stays IPv6, no leading zeros) + istio/ztunnel src/rbac.rs (IpNet::contains) + cilium/cilium pkg/labels/cidr.go";
    static final String ISTIO_JSONPB_LIST = "istio/api security/v1beta1/authorization_policy_json.gen.go + golang/protobuf"
            + " jsonpb/decode.go (unmarshalValue: an empty JSON list appends nothing, so the field stays unset)";
    static final String ISTIO_JSONPB = "istio/api security/v1beta1/peer_authentication_json.gen.go + golang/protobuf jsonpb/decode.go (map key as a JSON number) + CRD CEL int(key)";
    static final String CILIUM_SELECTOR = "cilium/cilium pkg/policy/api/selector.go (EndpointSelector.Matches: a reserved:all key matches every identity) + entity.go (EntityAll)";
    static final String ISTIO_TD_MIGRATION = "istio/istio pilot/pkg/security/authz/builder/builder.go (MigrateTrustDomain on every rule) + trustdomain/bundle.go (default mesh trust domain cluster.local)";
    static final String CILIUM_LABEL_VALUE = "cilium/cilium pkg/k8s/slim/k8s/apis/meta/v1/types.go (MatchLabelsValue: MaxLength=63, Pattern; LabelSelectorOperator Enum) -> crds/v2";
    static final String CILIUM_LABELS_FILTER = "cilium/cilium pkg/labelsfilter/filter.go (defaultLabelPrefixCfg: labels kept out of security identities)";
    static final String CILIUM_MERGE_INGRESS = "cilium/cilium pkg/policy/rule.go (mergeIngress: toPorts.Len() == 0 is an L3-only rule; "
            + "each toPorts entry adds its GetPortProtocols()) + pkg/policy/api/l4.go (GetPortProtocols returns Ports)";
    static final String SEED = "seed article 000_b0781c9adee22133";

    interface Check {
        void run() throws Exception;
    }

    record Case(String source, String name, Check check) {
        @Override
        public String toString() {
            return "[" + source + "] " + name;
        }
    }

    final List<Case> cases = new ArrayList<>();

    void add(String source, String name, Check check) {
        cases.add(new Case(source, name, check));
    }

    void valid(String source, String name, String yaml) {
        add(source, name + " (valid)", () -> PolicyLoader.fromString("case.yaml", yaml));
    }

    void invalid(String source, String name, String yaml, String fragment) {
        add(source, name + " (invalid)", () -> {
            PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class,
                    () -> PolicyLoader.fromString("case.yaml", yaml));
            assertThat(e).as("load must fail").isNotNull();
            assertThat(e.getMessage()).startsWith("case.yaml:").contains(fragment);
        });
    }

    void warns(String source, String name, String yaml, String fragment) {
        add(source, name + " (warning)", () -> assertThat(PolicyLoader.fromString("case.yaml", yaml).warnings())
                .anySatisfy(w -> assertThat(w).contains(fragment)));
    }

    void noWarnings(String source, String name, String yaml) {
        add(source, name + " (no warning)", () -> assertThat(PolicyLoader.fromString("case.yaml", yaml).warnings()).isEmpty());
    }

    /** {@code policy} null: no policy decided (ALLOWED_NO_POLICY when allowed). */
    void decide(String source, String name, String yaml, R request, boolean allowed, String policy) {
        add(source, name, () -> {
            Decision d = PolicyEngine.builder().policies(PolicyLoader.fromString("case.yaml", yaml)).build()
                    .evaluate(request.build());
            assertThat(d.allowed()).as("allowed for %s: %s", request, d).isEqualTo(allowed);
            assertThat(d.policy() == null ? null : d.policy().qualifiedName()).as("deciding policy: %s", d).isEqualTo(policy);
            if (allowed && policy == null) {
                assertThat(d.outcome()).isEqualTo(Outcome.ALLOWED_NO_POLICY);
            }
        });
    }

    Map<String, Integer> counts() {
        Map<String, Integer> out = new TreeMap<>();
        for (Case c : cases) {
            out.merge(c.source(), 1, Integer::sum);
        }
        return out;
    }

    static String ap(String ns, String name, String spec) {
        return ConformanceTest.ap(ns, name, spec);
    }

    static String cnp(String ns, String name, String spec) {
        return ConformanceTest.cnp(ns, name, spec);
    }

    static String ccnp(String name, String spec) {
        return ConformanceTest.ccnp(name, spec);
    }
}
