package io.zerohop.cli;

import io.zerohop.core.Addresses;
import io.zerohop.core.HeaderValidation;
import io.zerohop.core.SelectorCheck;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.HttpAttributes;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.PolicySet;
import io.zerohop.policy.WorkloadRef;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zerohop policy check}: one decision, explained in one line, exactly as the proxy would take it. */
@Command(name = "policy", mixinStandardHelpOptions = true, version = Zerohop.VERSION, description = "Inspect policy decisions.",
        subcommands = {PolicyCommand.Check.class})
final class PolicyCommand {

    @Command(name = "check", mixinStandardHelpOptions = true, version = Zerohop.VERSION,
            description = {"Evaluate one connection (or request, with --method/--path/--host/--header) against a policy "
                    + "directory and print the decision and the deciding policy, then any load warnings on stderr. "
                    + "Exit code 0 = allow, 3 = deny, 1 = a --policies or --workloads file that does not load "
                    + "(the message names file:line: field), as the proxy exits, "
                    + "2 = usage (including a path that does not exist or is not readable, and a --dest not in --workloads).",
                    "Without --method/--path/--host/--header, on a port that is auto (not declared in --workloads, or no "
                    + "--workloads) and that a policy decides per request, a second line gives the decision for a connection "
                    + "whose first bytes are not HTTP when it differs (a DENY with HTTP fields fails closed there, as the proxy "
                    + "resets it); exit 3 when either line denies. When the L4 line denies and an HTTP request on such a port "
                    + "may be allowed, the second line says to give --method/--path for its decision.",
                    "With --workloads, as the proxy does: the destination is the named workload of the registry and the "
                    + "source workload (labels for Cilium fromEndpoints) is the one owning --source-ip if it has --source's identity, or without --source-ip "
                    + "the only registry workload with --source's identity; when several have it, --source-ip is required "
                    + "(exit 2), and when none has it (or without --source) the source has no workload and the default --source-ip "
                    + "must be no workload's address (else exit 2). Without --workloads, the "
                    + "destination is namespace NS, name WORKLOAD, service account WORKLOAD, labels app=WORKLOAD (plus any "
                    + "--label) and the source is unknown."})
    static final class Check implements Callable<Integer> {
        /** The logger mesh-policy's loader reports load warnings on. */
        static final String LOADER_LOGGER = PolicyLoader.LOGGER;

        @Option(names = "--policies", required = true, description = "Directory (or file) of Istio / Cilium policy YAML")
        Path policies;

        @Option(names = "--source", description = "Caller's SPIFFE ID; omit for a plaintext caller")
        String source;

        @Option(names = "--source-ip", defaultValue = "10.0.0.1", description = "Caller's IP, default ${DEFAULT-VALUE}")
        String sourceIp;

        @Option(names = "--dest", required = true, description = "NS/WORKLOAD[:PORT]; without a port, decided for port 80 with a note on stderr")
        String dest;

        @Option(names = "--dest-ip", defaultValue = "10.0.0.2",
                description = "Destination IP; default the --dest workload's first address with --workloads, else ${DEFAULT-VALUE}")
        String destIp;

        @Option(names = "--workloads", description = "Workload registry YAML to take the destination's labels and service account from")
        Path workloads;

        @Option(names = "--label", paramLabel = "KEY=VALUE", description = "Extra destination label k=v (repeatable)")
        Map<String, String> labels = new HashMap<>();

        @Option(names = "--root-namespace", defaultValue = "istio-system", description = "Istio root namespace, default ${DEFAULT-VALUE}")
        String rootNamespace;

        @Option(names = "--policy-default-local-cluster", paramLabel = "BOOL", arity = "1", defaultValue = "true",
                description = "As zerohop proxy --policy-default-local-cluster (Cilium's agent option): false for a Cilium"
                        + " running with it false (1.18's default; before 1.18 always); default ${DEFAULT-VALUE}")
        boolean policyDefaultLocalCluster = true;

        @Option(names = "--trust-domain", defaultValue = "cluster.local",
                description = "The mesh's trust domain, as zerohop proxy's: L7 principals are rewritten for it, default ${DEFAULT-VALUE}")
        String trustDomain;

        @Option(names = "--trust-domain-aliases", paramLabel = "DOMAIN", split = ",",
                description = "The mesh's trust domain aliases, comma-separated, as zerohop proxy's (default none)")
        List<String> trustDomainAliases = new ArrayList<>();

        @Option(names = "--method", description = "HTTP method: decide at L7")
        String method;

        @Option(names = "--path", description = "HTTP path (:path, query included; origin-form, starting with /): decide at L7")
        String path;

        @Option(names = "--host", description = "HTTP Host / :authority: decide at L7")
        String host;

        @Option(names = "--header", description = "HTTP request header NAME=VALUE (repeatable; repeats are joined with \",\" "
                + "as the proxy and Envoy's header matcher join them): decide at L7; hop-by-hop ones (connection, keep-alive, "
                + "proxy-connection, transfer-encoding, te but trailers, upgrade) and those a connection header nominates are left "
                + "out, with a note, as the proxy removes them before any policy; an upgrade request (connection: upgrade, an "
                + "upgrade other than h2c) keeps its upgrade and the headers its connection nominates, as the proxy does; one other "
                + "than websocket is exit 2, the proxy's 403 before any policy")
        List<String> headers = new ArrayList<>();

        @Option(names = "--sni", description = "TLS SNI (Istio when-key connection.sni)")
        String sni;

        @Option(names = "--jwt", paramLabel = "TOKEN", description = "A JWT the request carries as authorization: Bearer TOKEN:"
                + " decide at L7, the token verified as the proxy verifies it against the RequestAuthentications of --dest (every"
                + " location the rules read, --header and --path too; the keys of a jwksUri or of OpenID discovery fetched, waiting"
                + " at most the rule's timeout), then requestPrincipals and request.auth.* matched on its claims; a token the"
                + " proxy refuses is exit 3 with the proxy's 401 (403) text. A token --header or --path carries where the rules"
                + " read it (fromHeaders, fromParams) is verified the same way, with or without --jwt; with none the check"
                + " decides a request without a verified token")
        String jwt;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Usage u = new Usage(spec, ConfigFile.Origins.NONE);
            int slash = dest.indexOf('/');
            if (slash <= 0 || slash == dest.length() - 1) {
                throw u.error("dest", dest, "must be NS/WORKLOAD[:PORT], got \"" + dest + "\"");
            }
            String ns = dest.substring(0, slash);
            String rest = dest.substring(slash + 1);
            int port = 80;
            int colon = rest.indexOf(':');
            boolean colonGiven = colon >= 0;
            if (colon >= 0) {
                String p = rest.substring(colon + 1);
                try {
                    port = Integer.parseInt(p);
                } catch (NumberFormatException e) {
                    throw u.error("dest", dest, "port \"" + p + "\" is not a number (NS/WORKLOAD[:PORT])");
                }
                // A destination port is 1..65535 (AccessRequest's range: no connection is made to port 0).
                if (port < 1 || port > 65535) {
                    throw u.error("dest", dest, "port " + p + " out of range 1..65535");
                }
                rest = rest.substring(0, colon);
            }
            u.path("policies", policies, Usage.Kind.FILE_OR_DIRECTORY);
            u.path("workloads", workloads, Usage.Kind.FILE);
            u.namespace("root-namespace", rootNamespace);
            // As the proxy's Mesh gives them to its engine: the same checks, named as the options.
            Usage.parse(u, "trust-domain", trustDomain, () -> io.zerohop.core.Mesh.builder().trustDomain(trustDomain));
            for (String alias : trustDomainAliases) {
                Usage.parse(u, "trust-domain-aliases", alias, () -> io.zerohop.core.Mesh.builder().trustDomainAliases(List.of(alias)));
            }
            Map<String, String> headerMap = headerMap(u);
            if (jwt != null) {
                if (headerMap.containsKey("authorization")) {
                    throw u.error("jwt", jwt, "--jwt is sent as the authorization header, which --header authorization= gives too:"
                            + " give the token once");
                }
                headerMap.put("authorization", "Bearer " + jwt);
            }
            InetAddress srcIp = Usage.parse(u, "source-ip", sourceIp, () -> Addresses.parseIp(sourceIp, "--source-ip"));
            InetAddress dstIp = Usage.parse(u, "dest-ip", destIp, () -> Addresses.parseIp(destIp, "--dest-ip"));
            if (source != null) {
                if (!source.contains("://")) {
                    // Istio's principals are written without the scheme (the article's "cluster.local/ns/..."); a SPIFFE ID has it.
                    // A bare name ("frontend") is no principal: "write spiffe://frontend" sent a new-user pass the wrong way.
                    throw u.error("source", source, "\"" + source + "\" is not a SPIFFE ID: write " + (source.contains("/")
                            ? "spiffe://" + source + " (policies' principals leave spiffe:// out; --source is the caller's SPIFFE ID)"
                            : "the caller's SPIFFE ID, spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT (e.g. spiffe://cluster.local/ns/prod/sa/"
                                    + source + ")"));
                }
                io.spiffe.spiffeid.SpiffeId parsedSource = Usage.parse(u, "source", source, () -> SpiffeIds.parse(source));
                if (parsedSource.getPath().isEmpty()) {
                    // No peer has it: its certificate is refused in every handshake (X509-SVID: a leaf names a workload),
                    // as `ca issue` refuses to make one (helper 258).
                    throw u.error("source", source, "a trust domain alone names no workload, and no peer presents it"
                            + " (give spiffe://" + parsedSource.getTrustDomain() + "/ns/NAMESPACE/sa/SERVICE_ACCOUNT)");
                }
            }
            WorkloadRegistry registry = workloads == null ? null : Utf8Text.workloads(workloads, "cluster.local");
            if (registry != null && !registry.all().isEmpty()) {
                String td = registry.identityOf(registry.all().get(0)).getTrustDomain().getName();
                if (!td.equals(trustDomain)) {
                    // A new-user pass (istio.io's authz-td-migration task) got DENY where the task expects 200: its --workloads
                    // file had trustDomain new-td, and principals were rewritten for --trust-domain's default, unsaid.
                    // zerohop proxy with the same options issues no SVID for these workloads and decides nothing (newuser18).
                    System.err.println("warning: " + workloads + ": trustDomain " + td + ", but --trust-domain is " + trustDomain
                            + ": zerohop proxy with these options would issue or accept no SVID for these workloads; decided here"
                            + " for a mesh of " + trustDomain + " (give --trust-domain " + td + " for the mesh of these workloads)");
                }
            }
            WorkloadRef target = destination(u, registry, ns, rest);
            if (registry != null && !spec.commandLine().getParseResult().hasMatchedOption("--dest-ip")) {
                // As the proxy decides: the destination address is the workload's own (Istio destination.ip).
                List<InetAddress> own = registry.byName(ns, rest).map(Workload::addresses).orElse(List.of());
                dstIp = own.isEmpty() ? dstIp : own.get(0);
            } else if (registry != null && registry.byName(ns, rest).isPresent()) {
                // The proxy finds the destination workload by the address dialled: --dest's policies at another address are
                // a decision it never takes. Kept as asked (an address to come), but said (helper 380: silent).
                List<InetAddress> own = registry.byName(ns, rest).get().addresses();
                if (!own.isEmpty() && !own.contains(dstIp)) {
                    Workload holder = registry.byAddress(dstIp).orElse(null);
                    System.err.println("warning: --dest-ip " + dstIp.getHostAddress() + " is not an address of " + ns + "/" + rest + " in "
                            + workloads + " (" + own.stream().map(InetAddress::getHostAddress).collect(java.util.stream.Collectors.joining(", "))
                            + ")" + (holder != null
                                    ? " but " + holder.namespace() + "/" + holder.name() + "'s: the proxy decides a connection to "
                                            + dstIp.getHostAddress() + " by " + holder.namespace() + "/" + holder.name() + "'s policies"
                                    : ", nor of any workload there: the proxy has no workload, and so no policy of " + ns + "/" + rest
                                            + ", at that address")
                            + "; decided here as asked, for " + ns + "/" + rest + " at " + dstIp.getHostAddress());
                }
            }
            // As the proxy does (Mesh.accessRequest): the peer's workload is the one owning its address. Without
            // --source-ip that address is the default 10.0.0.1, which may be another workload's: a new-user pass got
            // "ALLOW ... fromEndpoints app=frontend matched" for --source .../sa/batch from frontend's labels. The
            // caller is then the registry workload with --source's identity, when exactly one has it.
            WorkloadRef sourceWorkload = null;
            // Why the source has no workload, printed after a decision that says so.
            String noWorkload = "the source workload comes from --workloads and --source-ip, or --source's identity when one workload has it";
            boolean givenIp = spec.commandLine().getParseResult().hasMatchedOption("--source-ip");
            if (registry != null && source == null && !givenIp && registry.byAddress(srcIp).isPresent()) {
                // A plaintext caller is the workload owning its address: the default would make it that workload.
                Workload holder = registry.byAddress(srcIp).get();
                throw u.error("source-ip", null, "a plaintext caller (no --source) is the workload owning its address, and the "
                        + "default --source-ip " + srcIp.getHostAddress() + " is " + holder.namespace() + "/" + holder.name()
                        + "'s in " + workloads + ": give the caller's --source-ip");
            }
            if (registry != null && (source == null || givenIp)) {
                // The proxy's TunnelSource takes only a workload of the peer's own identity.
                Workload holder = registry.byAddress(srcIp).orElse(null);
                sourceWorkload = holder != null && (source == null || holder.identity().toString().equals(source)) ? holder.ref() : null;
                noWorkload = holder == null ? "no workload in " + workloads + " has --source-ip " + srcIp.getHostAddress()
                        : "--source-ip " + srcIp.getHostAddress() + " is " + holder.namespace() + "/" + holder.name() + ", whose identity "
                                + holder.identity() + " is not --source's: as in the proxy, a workload of another identity is not the source";
            } else if (registry != null) {
                List<Workload> own = registry.all().stream()
                        .filter(w -> w.identity().toString().equals(source) && !w.addresses().isEmpty()).toList();
                if (own.size() == 1) {
                    sourceWorkload = own.get(0).ref();
                    srcIp = own.get(0).addresses().get(0);
                } else if (own.size() > 1) {
                    // Any pick would decide fromEndpoints and ipBlocks for one of them, silently (new-user pass).
                    throw u.error("source-ip", null, "--source " + source + " has " + own.size() + " workloads in " + workloads + " ("
                            + own.stream().map(w -> w.namespace() + "/" + w.name() + " " + w.addresses().get(0).getHostAddress())
                            .sorted().collect(java.util.stream.Collectors.joining(", "))
                            + "): give --source-ip to say which one calls");
                } else {
                    // A caller outside the registry: no source workload, as in the proxy. The default address stands
                    // only while no workload owns it; else ipBlocks would decide on another workload's address.
                    InetAddress dflt = srcIp;
                    Workload holder = registry.byAddress(dflt).orElse(null);
                    noWorkload = "no workload in " + workloads + " has --source's identity";
                    if (holder != null) {
                        throw u.error("source-ip", null, "no workload in " + workloads + " has --source " + source
                                + ", and the default --source-ip " + dflt.getHostAddress() + " is " + holder.namespace() + "/"
                                + holder.name() + "'s address: give the caller's --source-ip (ipBlocks and source.ip match it)");
                    }
                }
            }
            // The loader logs each warning; this command prints them itself, once, after the decision.
            io.zerohop.policy.CiliumOptions cilium = io.zerohop.policy.CiliumOptions.builder()
                    .policyDefaultLocalCluster(policyDefaultLocalCluster).build();
            PolicySet set = LogLevels.silenced(LOADER_LOGGER,
                    () -> Files.isDirectory(policies) ? PolicyLoader.fromDirectory(policies, cilium) : PolicyLoader.fromFile(policies, cilium));
            PolicyEngine engine = PolicyEngine.builder().rootNamespace(rootNamespace).ciliumOptions(cilium).trustDomain(trustDomain)
                    .trustDomainAliases(trustDomainAliases).policies(set).build();
            AccessRequest.Builder req = AccessRequest.builder()
                    .sourcePrincipal(source)
                    .sourceAddress(srcIp)
                    .destinationAddress(dstIp)
                    .destinationPort(port)
                    .destination(target)
                    .sourceWorkload(sourceWorkload)
                    .sni(sni);
            Workload destWorkload = registry == null ? null : registry.byName(ns, rest).orElse(null);
            if (registry != null && source == null && sourceWorkload == null) {
                // As the proxy's TunnelSource.plaintextNode: a node's address is Cilium's host for the node enforcing (the
                // destination's), remote-node for another, never world.
                String node = registry.nodeAt(srcIp).orElse(null);
                if (node != null) {
                    req.sourceNode(destWorkload != null && node.equals(destWorkload.node())
                            ? AccessRequest.SourceNode.HOST : AccessRequest.SourceNode.REMOTE_NODE);
                }
            }
            // As the proxy: a port declared tcp is never parsed, so its connections are decided at L4 whatever
            // the request. A new-user pass got ALLOW for --method POST on a tcp port the proxy refuses at L4.
            boolean tcpPort = destWorkload != null && destWorkload.appProtocol(port) == io.zerohop.core.AppProtocol.TCP;
            // ... and nor is a port no policy has HTTP fields for (the proxy's zero-parse path, HttpEnforcement):
            // there principals match as written, as at ztunnel, not as istiod rewrites them for the mesh's trust
            // domains. A new-user pass got DENY here for a request the proxy served (a DENY of an alias's principal).
            // A RequestAuthentication makes the port parsed, as for the proxy (HttpEnforcement), token or not: a new-user
            // pass (h358) read "the proxy does not parse HTTP there" and ALLOW for --header authorization=Bearer deadbeef,
            // which the proxy answers 401.
            boolean opaque = tcpPort || !engine.requiresHttp(target, port) && engine.jwtRules(target).isEmpty();
            boolean http = method != null || path != null || host != null || !headers.isEmpty() || jwt != null;
            String badPath = path == null || opaque ? null : notOriginForm(path, method);
            if (badPath != null) {
                // Only where the proxy parses HTTP: on a port it relays unparsed, no target is refused (the note below).
                throw u.error("path", path, badPath);
            }
            String badHost = host == null || opaque ? null : badAuthority(host);
            if (badHost != null) {
                throw u.error("host", host, badHost);
            }
            boolean verifiedToken = false;
            if (http && !opaque) {
                if (source != null) {
                    // What the proxy sets before the decision (mesh-core RequestAdmission, H2Proxy: Conn.xfcc), but for the
                    // certificate's Hash and Subject, which a check cannot know; none for a plaintext caller. By= is the
                    // destination's identity, its registry workload's or the one --dest names (helper 258: left out
                    // without --workloads).
                    String by = destWorkload != null ? destWorkload.identity().toString()
                            : "spiffe://" + trustDomain + "/ns/" + target.namespace() + "/sa/" + target.serviceAccount();
                    String xfcc = "By=" + by + ";URI=" + source;
                    headerMap.put("x-forwarded-client-cert", xfcc);
                }
                // x-forwarded-proto and x-request-id as the proxy sets them before any policy reads them (mesh-core
                // ForwardedRequestHeaders, as Envoy's connection manager under Istio): a client's kept, else http and a
                // new UUIDv4; on a port Cilium's rules cover, as Cilium's Envoy in front sets them: http whatever was
                // given, and the id replaced for an edge request (HeaderValidation.ciliumEdgeRequest: an x-forwarded-for
                // given, or --source-ip, 10.0.0.1 unless given or taken from --source's workload, outside Cilium's
                // internal ranges). Until 7 December neither was set, so a rule requiring one decided the opposite of
                // the proxy. A given value replaced is named in a note (cilium/cilium pkg/envoy/xds_server.go
                // GetHttpFilterChainProto; envoyproxy/envoy conn_manager_utility.cc mutateRequestHeaders): a new-user
                // pass (helper 347) read a DENY on the id it gave, with nothing saying it was not the one decided on.
                boolean ciliumHttp = engine.ciliumHttp(target, port);
                String givenProto = headerMap.get("x-forwarded-proto");
                if (ciliumHttp && givenProto != null && !givenProto.equals("http")) {
                    headerNotes.add("--header x-forwarded-proto=" + givenProto + ": replaced by http before any policy reads it,"
                            + " as Cilium's Envoy in front (its rules.http cover port " + port + ") overwrites a client's"
                            + " x-forwarded-proto with its connection's level");
                }
                if (ciliumHttp || givenProto == null) {
                    headerMap.put("x-forwarded-proto", "http");
                }
                String requestId = headerMap.get("x-request-id");
                boolean edge = ciliumHttp && HeaderValidation.ciliumEdgeRequest(headerMap.containsKey("x-forwarded-for"), srcIp);
                if (edge && requestId != null && !requestId.isEmpty()) {
                    headerNotes.add("--header x-request-id=" + requestId + ": replaced by a new id before any policy reads it,"
                            + " as Cilium's Envoy in front replaces a client's id (its rules.http cover port " + port + ") for "
                            + (headerMap.containsKey("x-forwarded-for") ? "a request with x-forwarded-for"
                                    : "a source outside its internal ranges (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,"
                                            + " 127.0.0.1, ::1; --source-ip " + srcIp.getHostAddress() + ")"));
                }
                if (requestId == null || requestId.isEmpty() || edge) {
                    headerMap.put("x-request-id", java.util.UUID.randomUUID().toString());
                }
                headerMap.put(":scheme", scheme(destWorkload == null ? io.zerohop.core.AppProtocol.AUTO : destWorkload.appProtocol(port),
                        headerMap.get("x-forwarded-proto")));
                HttpAttributes attributes = new HttpAttributes(method == null ? "GET" : method, path == null ? "/" : path, host, headerMap);
                List<io.zerohop.policy.JwtRule> rules = engine.jwtRules(target);
                // Every request, as the proxy's step runs on every request: a token given by --header (a rule's
                // fromHeaders, authorization) or in --path (fromParams) is verified as one given by --jwt (h358: until
                // 7 December only --jwt's was, and a valid token in --header x-jwt-assertion decided as none).
                if (!rules.isEmpty()) {
                    // The proxy's step before the authorization (mesh-core JwtCheck, Envoy's jwt_authn as istiod configures
                    // it): a refused token is the proxy's local reply, no policy decides; else the policies read the
                    // token's claims and the headers and path as the step left them (a token's header removed, outputs set).
                    HttpAttributes before = attributes;
                    io.zerohop.core.JwtCheck.Result r = LogLevels.silenced("io.zerohop.core.internal.http.JwtAuthn",
                            () -> io.zerohop.core.JwtCheck.check(rules, before.method(), before.path(), host, headerMap));
                    if (r.refused()) {
                        portNote(colonGiven, ns + "/" + rest, port, destWorkload);
                        waypointNote(registry, ns + "/" + rest, destWorkload);
                        System.out.println("DENY: " + r.status() + " " + r.failure() + " by RequestAuthentication "
                                + rules.stream().map(io.zerohop.policy.JwtRule::origin).distinct()
                                        .collect(java.util.stream.Collectors.joining(", "))
                                + " (the proxy answers it before any AuthorizationPolicy)");
                        for (String w : set.warnings()) {
                            System.err.println((PolicyLoader.isNote(w) ? "note: " : "warning: ") + w);
                        }
                        return 3;
                    }
                    attributes = new HttpAttributes(before.method(), r.path(), host, r.headers()).withAuth(r.auth());
                    verifiedToken = r.auth() != null;
                    String given = jwt != null ? "--jwt" : "the request's token";
                    if (r.auth() != null) {
                        headerNotes.add(given + ": verified, request.auth.principal " + (r.auth().principal() == null
                                ? "(none: no iss or sub)" : r.auth().principal()));
                    } else if (jwt != null) {
                        headerNotes.add("--jwt: no token found where the rules read one (decided without one); they read it from "
                                + tokenLocations(rules) + ": give it there");
                    }
                }
                req.http(attributes);
            }
            AccessRequest request = req.build();
            // The engine logs a dry-run policy's decision at INFO for the proxy's log; here it would print the decision twice.
            Decision d = LogLevels.silenced(PolicyEngine.class.getName(), () -> engine.evaluate(request));
            if (destWorkload != null && destWorkload.addresses().size() > 1 && !spec.commandLine().getParseResult().hasMatchedOption("--dest-ip")) {
                // The proxy decides a connection on the address it was dialled at (destination.ip; ztunnel's rbac.rs tests
                // destination_ips against the connection's dst): a dual-stack pod or a VM of several addresses may be
                // decided differently at each. An operator's pass (helper 380) got the first address's "ALLOW by default",
                // exit 0, for a workload whose second address a DENY on destination.ip closes. As for several source
                // workloads of one identity, a silent pick is refused, here only when the picks would differ.
                List<String> each = new java.util.ArrayList<>();
                boolean differ = false;
                for (InetAddress a : destWorkload.addresses()) {
                    AccessRequest at = req.destinationAddress(a).build();
                    Decision da = a.equals(dstIp) ? d : LogLevels.silenced(PolicyEngine.class.getName(), () -> engine.evaluate(at));
                    differ |= da.allowed() != d.allowed() || da.outcome() != d.outcome()
                            || !java.util.Objects.equals(da.policy(), d.policy()) || da.ruleIndex() != d.ruleIndex();
                    each.add(a.getHostAddress() + ": " + da.explain());
                }
                if (differ) {
                    throw u.error("dest-ip", null, ns + "/" + rest + " has " + destWorkload.addresses().size() + " addresses in "
                            + workloads + ", and the policies decide a connection to each differently (" + String.join("; ", each)
                            + "): give --dest-ip to say which address the caller dials");
                }
            }
            portNote(colonGiven, ns + "/" + rest, port, destWorkload);
            waypointNote(registry, ns + "/" + rest, destWorkload);
            System.out.println(d.explain() + (d.explain().contains("the source has no known workload") ? " (" + noWorkload + ")" : ""));
            // As the proxy: on an auto port (undeclared; without --workloads every port is) that a policy decides per
            // request, a connection whose first bytes are not HTTP is decided by evaluateUnparsed, where a DENY (or
            // CUSTOM) rule's HTTP fields count as matched. A new-user pass got only "ALLOW by ..." (exit 0) for a port
            // whose HTTP-only DENY makes the proxy reset every non-HTTP connection.
            io.zerohop.core.AppProtocol protocol = destWorkload == null ? io.zerohop.core.AppProtocol.AUTO : destWorkload.appProtocol(port);
            boolean sniffed = !http && protocol == io.zerohop.core.AppProtocol.AUTO && engine.requiresHttp(target, port);
            Decision unparsed = sniffed ? LogLevels.silenced(PolicyEngine.class.getName(), () -> engine.evaluateUnparsed(request)) : d;
            // Its dry-run preview is the unparsed reading's (a dry-run DENY with HTTP fields, enforced, resets such a
            // connection; the L4 line's preview cannot show it: a new-user pass).
            boolean sameVerdict = unparsed.allowed() == d.allowed() && unparsed.outcome() == d.outcome()
                    && java.util.Objects.equals(unparsed.policy(), d.policy()) && unparsed.ruleIndex() == d.ruleIndex();
            if (!sameVerdict) {
                System.out.println("a connection whose first bytes are not HTTP: " + unparsed.explain() + " (fail closed: port " + port
                        + " is auto and a policy decides it per request; a connection it cannot parse as HTTP is decided without"
                        + " HTTP fields, which a DENY or CUSTOM rule's count as matched; give --method/--path for an HTTP request)");
            } else if (sniffed && unparsed.dryRun() != null) {
                System.out.println("a connection whose first bytes are not HTTP: " + unparsed.explain() + " (port " + port
                        + " is auto and a policy decides it per request; with the dry-run policies enforced, a connection it cannot"
                        + " parse as HTTP would be decided without HTTP fields, which a DENY rule's count as matched and an ALLOW"
                        + " rule's as not; give --method/--path for an HTTP request)");
            } else if (!http && protocol != io.zerohop.core.AppProtocol.TCP
                    && (engine.requiresHttp(target, port) || !engine.jwtRules(target).isEmpty())
                    && (d.allowed() || engine.denialBeforeHttp(request) == null)) {
                // As the proxy decides to parse (HttpEnforcement): a RequestAuthentication alone makes the port parsed.
                // The proxy parses HTTP here and decides each request: the L4 answer is not the one an HTTP client
                // gets (a new-user pass read an ALLOW with methods as "denied" with no hint; Cilium's text has one;
                // newuser20 read "ALLOW by default" on an http port whose DENY methods: [POST] the proxy enforced).
                // A new-user pass followed this hint for a policy whose only HTTP fields were requestPrincipals: giving
                // --method/--path changed nothing, since the verified JWT decides them: the hint names --jwt, which gives
                // it (a new-user pass read "which the check has none of" after --jwt came, and looked no further).
                String jwt = engine.jwtRules(target).isEmpty() ? "" : "; requestPrincipals and request.auth.* are decided on the"
                        + " request's verified JWT: give it with --jwt TOKEN (without it the check decides a request without a token)";
                System.out.println("an HTTP request: decided per request on port " + port + " (a policy has HTTP fields for it):"
                        + " give --method/--path (and --host/--header) for its decision" + jwt);
            }
            if (http && tcpPort) {
                System.err.println("warning: port " + port + " of " + ns + "/" + rest + " is tcp in " + workloads + ": the proxy does not parse "
                        + "HTTP there, so --method/--path/--host/--header were left out and the connection decided at L4, as the proxy decides it");
            } else if (http && opaque) {
                System.err.println("note: no policy has HTTP fields for port " + port + " of " + ns + "/" + rest + ": the proxy does not parse "
                        + "HTTP there, so --method/--path/--host/--header were left out and the connection decided at L4, as the proxy "
                        + "decides it" + (trustDomainAliases.isEmpty() ? "" : " (principals as written, as ztunnel, not rewritten for the aliases)"));
            }
            if (http && !opaque && (method == null || path == null)) {
                // A request has both; the check fills in what is missing, and says so: a new-user pass asked "is /admin
                // protected?" with --path alone and read ALLOW, decided for GET where the DENY named POST.
                System.err.println("note: decided for " + (method == null ? "--method GET (not given)" : "--method " + method)
                        + " and " + (path == null ? "--path / (not given)" : "--path " + path) + "; give both for the request you mean");
            }
            if (http && !opaque) {
                for (String note : headerNotes) {
                    System.err.println("note: " + note);
                }
            }
            java.util.List<io.zerohop.policy.JwtRule> jwtRules = engine.jwtRules(target);
            if (jwt != null && jwtRules.isEmpty()) {
                System.err.println("note: --jwt: no RequestAuthentication applies to " + target.namespace() + "/" + target.name()
                        + ": the proxy verifies no JWT there, so its claims decide nothing (no requestPrincipals or request.auth.*"
                        + " value matches); it was decided as an authorization header");
            } else if (jwt == null && !jwtRules.isEmpty() && !verifiedToken) {
                // The proxy checks a request's JWT against these (mesh-core) before the decision; without --jwt the check
                // decides what a request without one gets, and says which rules would apply.
                System.err.println("note: RequestAuthentication applies to " + target.namespace() + "/" + target.name() + ": "
                        + jwtRules.stream().map(r -> (r.issuer().isEmpty() ? "any issuer, keys " + r.jwksUri() : "issuer " + r.issuer())
                                + " (" + r.origin() + ")").distinct()
                                .collect(java.util.stream.Collectors.joining(", "))
                        + "; the proxy verifies a request's JWT against these rules and rejects an invalid one with 401; decided"
                        + " here without a verified token (give it with --jwt): no requestPrincipals or request.auth.* value"
                        + " matches, every not* form does");
            }
            for (String w : set.warnings()) {
                // Labelled as the proxy logs it: the HTTP-attributes note at INFO, as "note:" (a new-user pass read
                // "warning:" here for a line the proxy logs at INFO); every other load warning is WARN there.
                System.err.println((PolicyLoader.isNote(w) ? "note: " : "warning: ") + w);
            }
            if (registry != null) {
                // Whatever the decision: a DENY or a policy of a mistyped namespace that selects nothing changes no
                // decision here, which is the mistake (istioctl analyze IST0127 reports every action).
                for (String w : SelectorCheck.unselecting(set, registry, workloads.toString(), rootNamespace, destWorkload)) {
                    System.err.println("warning: " + w);
                }
            }
            String root = RootNamespaceCheck.warning(set.policies(), rootNamespace, "--root-namespace");
            if (root != null) {
                System.err.println("warning: " + root);
            }
            if (set.size() == 0 && set.warnings().stream().noneMatch(w -> w.contains(PolicyLoader.NO_POLICY_LOADED))) {
                // An empty or mistyped directory decides "ALLOW by default": say that nothing was read.
                System.err.println("warning: " + policies + ": no policy loaded from it");
            }
            return d.allowed() && unparsed.allowed() ? 0 : 3;
        }

        /**
         * Where the rules read a token, as options of this command: a rule's {@code fromHeaders}, {@code fromParams} and
         * {@code fromCookies}, or without any the default locations istiod leaves to Envoy ({@code authorization: Bearer}
         * and the {@code access_token} query parameter: istio/istio pilot/pkg/security/authn/policy_applier.go
         * {@code convertToEnvoyJwtConfig} sets from_headers/from_params only when the rule has them).
         */
        static String tokenLocations(List<io.zerohop.policy.JwtRule> rules) {
            java.util.Set<String> where = new java.util.LinkedHashSet<>();
            for (io.zerohop.policy.JwtRule r : rules) {
                if (r.fromHeaders().isEmpty() && r.fromParams().isEmpty() && r.fromCookies().isEmpty()) {
                    where.add("--jwt TOKEN");
                    where.add("--path /PATH?access_token=TOKEN");
                }
                for (io.zerohop.policy.JwtRule.FromHeader h : r.fromHeaders()) {
                    where.add("--header " + h.name().toLowerCase(java.util.Locale.ROOT) + "=" + h.prefix() + "TOKEN");
                }
                for (String param : r.fromParams()) {
                    where.add("--path /PATH?" + param + "=TOKEN");
                }
                for (String cookie : r.fromCookies()) {
                    where.add("--header cookie=" + cookie + "=TOKEN");
                }
            }
            return String.join(", ", where);
        }

        /**
         * The {@code :scheme} the proxy decides on for an HTTP/1 request, the proxy's own (mesh-core
         * {@code HeaderValidation.http1Scheme}: {@code x-forwarded-proto} when http or https, else http, as Envoy's
         * conn_manager_utility.cc {@code mutateRequestHeaders}/{@code getScheme}), on every port: one declared {@code http2}
         * or {@code grpc} serves HTTP/1 clients too (Envoy's {@code AUTO} codec, mesh-core {@code H2Upstream}). An h2c
         * client's is its own {@code :scheme}, which Envoy keeps whatever {@code x-forwarded-proto} says ("For HTTP/2, and
         * HTTP/3, incoming :scheme headers are trusted", envoyproxy/envoy docs/root/configuration/http/http_conn_man/headers.rst):
         * on an {@code http2} or {@code grpc} port, where such clients are the usual ones, a note says so when
         * {@code x-forwarded-proto} changes the answer's input. From 6 December (helper 328) until HTTP/1 was served there
         * the check took {@code http} on those ports, the proxy then reading h2c only.
         */
        private String scheme(io.zerohop.core.AppProtocol protocol, String forwardedProto) {
            String http1 = HeaderValidation.http1Scheme(path == null ? "/" : path, forwardedProto);
            if ((protocol == io.zerohop.core.AppProtocol.HTTP2 || protocol == io.zerohop.core.AppProtocol.GRPC) && !http1.equals("http")) {
                headerNotes.add("--header x-forwarded-proto=" + forwardedProto + ": decided for an HTTP/1 client, whose"
                        + " request.headers[:scheme] the proxy takes from it (" + http1 + "); the port is declared " + protocol.name()
                        .toLowerCase(Locale.ROOT) + ", and an h2c client's :scheme is its own, which x-forwarded-proto does not"
                        + " change (http for a plaintext h2c client)");
            }
            return http1;
        }

        private Map<String, String> headerMap(Usage u) {
            Map<String, String> out = new LinkedHashMap<>();
            for (String h : headers) {
                int eq = h.indexOf('=');
                if (eq <= 0) {
                    throw u.error("header", h, "must be NAME=VALUE, got \"" + h + "\"");
                }
                String name = h.substring(0, eq).toLowerCase(Locale.ROOT);
                String own = switch (name) {
                    case "host", ":authority" -> "--host";
                    case ":method" -> "--method";
                    case ":path" -> "--path";
                    // Not a client's header the check can take: the proxy sets an HTTP/1 request's from x-forwarded-proto
                    // (HeaderValidation.http1Scheme, as Envoy's getScheme); it was refused as no field name (a new-user pass).
                    case ":scheme" -> "--header x-forwarded-proto=http or =https (an HTTP/1 request's :scheme is set by the proxy"
                            + " from it, else http; an h2c client's is its own, which the check takes as http)";
                    default -> null;
                };
                if (own == null && !name.matches("[!#$%&'*+.^_`|~0-9a-z-]+")) {
                    // RFC 9110 5.1: a field name is a token; "host =x" was silently a header named "host " (a new-user pass).
                    throw u.error("header", h, "\"" + h.substring(0, eq) + "\" is no HTTP field name (RFC 9110 token: letters, digits,"
                            + " !#$%&'*+-.^_`|~; no space)");
                }
                if (name.equals("x-forwarded-client-cert")) {
                    // The proxy sets it from the connection before any policy reads it (as Envoy's connection manager), so
                    // a caller's own never decides: a check that took it answered the opposite of the proxy (helper 257).
                    throw u.error("header", h, "x-forwarded-client-cert is set by the proxy from the connection before any policy"
                            + " reads it, whatever the client sends: the check builds it from --source (By=<the destination's"
                            + " identity>;URI=<--source>; the proxy's also carries the certificate's Hash and Subject)");
                }
                if (own != null) {
                    // The request's own fields, which the policies' host, method and path rules read: as a header they were
                    // silently another header, so `--header host=x` decided for no Host at all (a new-user pass).
                    throw u.error("header", h, name + " is the request's own field: give it as " + own);
                }
                // "," with no space, as HttpEnforcement.authorize and Envoy's HeaderUtility::getAllOfHeaderAsString join
                // them: a check must decide what the proxy decides.
                String value = stripOws(h.substring(eq + 1));
                if (value.chars().anyMatch(c -> c == '\r' || c == '\n' || c == 0)) {
                    // RFC 9110 5.5: CR, LF and NUL are never part of a field value; an HTTP/2 peer's request with one is
                    // malformed (RFC 9113 8.2.1), so no proxy decides on it.
                    throw u.error("header", h, "a field value holds no CR, LF or NUL");
                }
                out.merge(name, value, (a, b) -> a + "," + b);
            }
            String connection = out.get("connection");
            String refused = asTheProxyDecides(out, headerNotes);
            if (refused != null) {
                throw u.error("header", "connection=" + connection, "connection=" + connection + ": " + refused);
            }
            return out;
        }

        /**
         * A {@code --dest} workload with a waypoint: the proxy sends {@code --source}'s connections to it through the waypoint
         * (mesh-core README "Waypoints"), and the destination decides the waypoint's own tunnel, with its identity as source.
         * A new-user pass read ALLOW for a direct connection that the proxy never makes (PolicyCheckWaypointNoteTest); the
         * note names the waypoint and the --source to give. None for the waypoint's own identity, which goes direct
         * (ztunnel's {@code check_from_waypoint}). Stderr: the decision and exit code stay.
         */
        private void waypointNote(io.zerohop.core.WorkloadRegistry registry, String dest, Workload destWorkload) {
            io.zerohop.core.GatewayAddress gw = destWorkload == null ? null : destWorkload.waypoint();
            if (gw == null) {
                return;
            }
            Workload wp = null;
            io.zerohop.core.Service svc = gw.address() != null ? registry.serviceAt(gw.address()).orElse(null)
                    : registry.service(gw.namespace(), gw.hostname()).orElse(null);
            if (svc != null) {
                wp = registry.endpoints(svc).stream().findFirst().orElse(null);
            } else if (gw.address() != null) {
                wp = registry.byAddress(gw.address()).orElse(null);
            }
            io.spiffe.spiffeid.SpiffeId id = wp == null ? null : registry.identityOf(wp);
            if (id != null && source != null && id.toString().equals(source)) {
                return;
            }
            System.err.println("note: " + dest + " has a waypoint (" + gw + (wp != null ? ", workload " + wp : ", which " + workloads
                    + " does not resolve: the proxy refuses every connection to " + dest + ", unknown waypoint") + "): the proxy"
                    + " sends --source's connections to it through that waypoint, whose own connection " + dest + "'s policies"
                    + " decide with the waypoint's identity as source; this decision is for a connection that does not go through it"
                    + (id != null ? "; for traffic through the waypoint give --source " + id : ""));
        }

        /**
         * A {@code --dest} without a port is decided for port 80 (the option's documented default), said in a {@code note:}
         * as the check names the --method and --path it fills in: a new-user pass checked {@code --dest prod/backend}
         * against a policy on 8080 and read a DENY that nothing said was for port 80. With --workloads, the ports the file
         * declares for the workload are named (one of them is likely the port meant). Stderr: the decision and exit code stay.
         */
        private void portNote(boolean given, String dest, int port, Workload destWorkload) {
            if (given) {
                return;
            }
            String declared = destWorkload == null || destWorkload.appProtocols().isEmpty() ? ""
                    : "; " + workloads + " declares port" + (destWorkload.appProtocols().size() == 1 ? " " : "s ")
                    + destWorkload.appProtocols().keySet().stream().sorted().map(String::valueOf)
                            .collect(java.util.stream.Collectors.joining(", ")) + " of " + dest;
            System.err.println("note: decided for port " + port + ": --dest " + dest + " names no port (NS/WORKLOAD:PORT gives"
                    + " the port the caller dials)" + declared);
        }

        /** What {@link #asTheProxyDecides} removed from the --header options, as {@code note:} lines for stderr. */
        private final List<String> headerNotes = new ArrayList<>();

        /**
         * Makes {@code headers} (names lower case, repeated values joined with ",") what a policy reads of an HTTP/1 request
         * the proxy serves with them, by the proxy's own rules (mesh-core {@link HeaderValidation#connectionNominations} and
         * {@link HeaderValidation#removeHopByHop}, as Envoy's HTTP/1 codec and connection manager): the headers its
         * {@code Connection} nominates are removed, and then {@code connection}, {@code keep-alive},
         * {@code proxy-connection}, {@code transfer-encoding}, {@code upgrade} of a request that is no upgrade and a
         * {@code te} other than {@code trailers}; one {@code notes} line says what went. A new-user pass (helper 312) read
         * DENY, exit 3, for {@code Connection: x-user} with {@code X-User: admin} against a DENY on
         * {@code request.headers[x-user]}, a request the proxy served 200 without the header; from then until 6 December
         * the check refused such a --header connection (exit 2) rather than decide it as the proxy does.
         *
         * @return null, or why the proxy answers such a request 400 before any policy (then {@code headers} is unchanged)
         */
        static String asTheProxyDecides(Map<String, String> headers, List<String> notes) {
            String connection = headers.get("connection");
            // An upgrade other than websocket (or h2c) is refused by the proxy before any policy, so no decision here says
            // what the proxy does with it (a review pass: the check printed ALLOW for a request the proxy answers 403).
            java.util.Optional<String> upgradeRefused = HeaderValidation.upgradeRefusal(connection, headers.get("upgrade"));
            if (upgradeRefused.isPresent()) {
                return "the proxy answers such a request 403 before any policy: " + upgradeRefused.get();
            }
            HeaderValidation.Nominations n = HeaderValidation.connectionNominations(connection, headers.get("upgrade"), headers.get("te"));
            if (n.refusal().isPresent()) {
                return "the proxy answers such a request 400 before any policy: " + n.refusal().get();
            }
            List<String> gone = new ArrayList<>();
            for (String name : n.removedHeaders()) {
                if (headers.remove(name) != null) {
                    gone.add(name);
                }
            }
            if (!gone.isEmpty()) {
                notes.add("--header connection=" + connection + " nominates " + String.join(", ", gone) + ": the proxy removes a"
                        + " header the Connection header nominates before any policy reads it (as Envoy's HTTP/1 codec), so "
                        + (gone.size() == 1 ? "it was" : "they were") + " left out of the decision");
            }
            if (n.teAsTrailers()) {
                headers.put("te", "trailers");
            }
            if (!n.droppedTokens().isEmpty()) {
                List<String> kept = new ArrayList<>();
                for (String t : connection.split(",")) {
                    String token = t.strip();
                    if (!token.isEmpty() && !n.droppedTokens().contains(token.toLowerCase(Locale.ROOT))) {
                        kept.add(token);
                    }
                }
                if (kept.isEmpty()) {
                    headers.remove("connection");
                } else {
                    headers.put("connection", String.join(",", kept));
                }
            }
            List<String> hop = HeaderValidation.removeHopByHop(headers);
            if (!hop.isEmpty()) {
                notes.add("--header " + String.join(", ", hop) + ": hop-by-hop, which the proxy removes before any policy reads the"
                        + " request (as Envoy's connection manager; a te listing trailers is read as exactly trailers), so left out of"
                        + " the decision");
            }
            return null;
        }

        /**
         * Why the proxy refuses a request with {@code path} before any policy reads it, or null: a request target that is
         * not origin-form ({@code /...}; {@code *} with OPTIONS), which the proxy's HTTP/1 filter answers with 400 (Envoy's
         * HTTP/1 codec, envoyproxy/envoy source/common/http/http1/codec_impl.cc {@code handlePath}: RFC 9112 section 3.2)
         * and its HTTP/2 side too (RFC 9113 section 8.3.1; Envoy's connection manager refuses a non-relative path,
         * {@code downstream_rq_non_relative_path}). The engine would normalise {@code charge} to {@code /charge} and
         * decide it: a new-user pass read ALLOW for a request the proxy never forwards. An absolute-form target
         * ({@code http://checkout/charge}) is decided by the proxy's HTTP/1 filter as its path and authority (RFC 9112
         * section 3.2.2), so the check asks for those. A fragment ({@code #}) or a space anywhere in the target is refused
         * too, before the form: the proxy answers the first with 400 on either protocol (mesh-core RequestTarget
         * {@code invalidPath}, as Envoy's {@code http_reject_path_with_fragment}) and the second with 400 on HTTP/1
         * ({@code invalidCharacters}) or a stream reset on HTTP/2 ({@code malformedH2Path}, as nghttp2), where the engine
         * drops the fragment and matches the space as written (a review pass read ALLOW for {@code /charge#x} and
         * {@code /a b}).
         */
        static String notOriginForm(String path, String method) {
            int hash = path.indexOf('#');
            if (hash >= 0) {
                String before = path.substring(0, hash);
                return "a request target has no fragment (RFC 9112 section 3.2, RFC 9113 section 8.3.1): the proxy answers \""
                        + path + "\" with 400 before any policy reads it, as Envoy; "
                        + (before.startsWith("/") ? "give --path " + before : "give the target without it");
            }
            if (path.indexOf(' ') >= 0) {
                return "a request target has no space (RFC 9112 section 3.2; an HTTP/2 :path with one is malformed): the proxy"
                        + " refuses \"" + path + "\" before any policy reads it (HTTP/1 400, HTTP/2 a stream reset);"
                        + " percent-encode it: give --path " + path.replace(" ", "%20");
            }
            if (path.startsWith("/") || (path.equals("*") && "OPTIONS".equals(method))) {
                return null;
            }
            if (path.equals("*")) {
                return "\"*\" is the request target of OPTIONS only (give --method OPTIONS); the proxy answers another method's *"
                        + " with 400 before any policy, as Envoy's HTTP/1 codec";
            }
            int scheme = path.indexOf("://");
            String s = scheme > 0 ? path.substring(0, scheme).toLowerCase(Locale.ROOT) : "";
            if (s.equals("http") || s.equals("https")) {
                String rest = path.substring(scheme + 3);
                int end = rest.length();
                for (int i = 0; i < rest.length(); i++) {
                    if ("/?#".indexOf(rest.charAt(i)) >= 0) {
                        end = i;
                        break;
                    }
                }
                String p = rest.substring(end);
                return "an absolute-form target is decided as its path and authority (RFC 9112 section 3.2.2): give --path "
                        + (p.startsWith("/") ? p : "/" + p) + (end > 0 ? " --host " + rest.substring(0, end) : "");
            }
            return "a request's path starts with / (origin-form, RFC 9112 section 3.2.1; RFC 9113 section 8.3.1): the proxy"
                    + " answers \"" + path + "\" with 400 before any policy reads it; give --path /" + path;
        }

        /**
         * Why the proxy refuses a request with {@code host} as its Host or {@code :authority} before any policy reads it,
         * or null: a character outside Envoy's authority table (envoyproxy/envoy source/common/http/header_validation.cc
         * {@code check_authority_h1_h2}; mesh-core {@link HeaderValidation#checkAuthority}, the proxy's own check for the
         * HTTP/1 filter (400) and H2Proxy (a stream reset)): letters, digits and {@code ! $ % & ' ( ) * + , - . : ; = @ [ ] _ ~}. A review pass
         * read ALLOW for {@code --host 'a b'} and {@code --host blocked.example/}, requests the proxy never forwards.
         */
        static String badAuthority(String host) {
            // One table for the proxy and the check (mesh-core's HeaderValidation): a drift would print ALLOW for a request
            // the proxy refuses.
            return HeaderValidation.checkAuthority(host)
                    .map(why -> "the proxy refuses it before any policy reads it: " + why
                            + " (letters, digits and !$%&'()*+,-.:;=@[]_~ only)")
                    .orElse(null);
        }

        /**
         * The value as the proxy's policies see it: RFC 9110 5.5 excludes the optional whitespace (SP, HTAB) around a
         * field value, which an HTTP/1.1 parser drops and an HTTP/2 peer may not send (RFC 9113 8.2.1), so
         * {@code --header 'x= v'} decides for {@code v} (a new-user pass found the space kept).
         */
        static String stripOws(String v) {
            int from = 0;
            int to = v.length();
            while (from < to && (v.charAt(from) == ' ' || v.charAt(from) == '\t')) {
                from++;
            }
            while (to > from && (v.charAt(to - 1) == ' ' || v.charAt(to - 1) == '\t')) {
                to--;
            }
            return v.substring(from, to);
        }

        private WorkloadRef destination(Usage u, WorkloadRegistry registry, String ns, String name) {
            if (registry != null) {
                // A --dest the registry does not hold is a mistake in the option (exit 2), named with the choices.
                Workload w = registry.byName(ns, name).orElseThrow(() -> u.error("dest", dest, "workload " + ns + "/" + name
                        + " is not in " + workloads + (registry.all().isEmpty() ? " (it has no workloads)" : " (it has " + registry.all().stream().map(x -> x.namespace() + "/" + x.name())
                        .sorted().limit(8).collect(java.util.stream.Collectors.joining(", ")) + (registry.all().size() > 8 ? ", ..." : "") + ")")));
                Map<String, String> l = new HashMap<>(w.labels());
                l.putAll(labels);
                return WorkloadRef.checked(ns, name, w.serviceAccount(), l, w.namedPorts());
            }
            Map<String, String> l = new HashMap<>();
            l.put("app", name);
            l.putAll(labels);
            // Names Kubernetes would refuse (WorkloadRef.checked) are a mistake in the option: exit 2 naming --dest.
            return Usage.parse(u, "dest", dest, () -> WorkloadRef.checked(ns, name, name, l));
        }
    }
}
