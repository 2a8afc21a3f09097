package io.zerohop.cli;

import io.zerohop.core.Addresses;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.HttpAttributes;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.WorkloadRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code zerohop policy check}: one decision, explained in one line, exactly as the proxy would take it. */
@Command(name = "policy", mixinStandardHelpOptions = true, description = "Inspect policy decisions.",
        subcommands = {PolicyCommand.Check.class})
final class PolicyCommand {

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = {"Evaluate one connection (or request, with --method/--path) against a policy directory and "
                    + "print the decision and the deciding policy. Exit code 0 = allow, 3 = deny.",
                    "Without --workloads, the destination is namespace NS, name WORKLOAD, service account WORKLOAD, "
                    + "labels app=WORKLOAD (plus any --label)."})
    static final class Check implements Callable<Integer> {
        @Option(names = "--policies", required = true, description = "Directory (or file) of Istio / Cilium policy YAML")
        Path policies;

        @Option(names = "--source", description = "Caller's SPIFFE ID; omit for a plaintext caller")
        String source;

        @Option(names = "--source-ip", defaultValue = "10.0.0.1", description = "Caller's IP, default ${DEFAULT-VALUE}")
        String sourceIp;

        @Option(names = "--dest", required = true, description = "NS/WORKLOAD[:PORT], port default 80")
        String dest;

        @Option(names = "--dest-ip", defaultValue = "10.0.0.2", description = "Destination IP, default ${DEFAULT-VALUE}")
        String destIp;

        @Option(names = "--workloads", description = "Workload registry YAML to take the destination's labels and service account from")
        Path workloads;

        @Option(names = "--label", description = "Extra destination label k=v (repeatable)")
        Map<String, String> labels = new HashMap<>();

        @Option(names = "--root-namespace", defaultValue = "istio-system", description = "Istio root namespace, default ${DEFAULT-VALUE}")
        String rootNamespace;

        @Option(names = "--method", description = "HTTP method: decide at L7")
        String method;

        @Option(names = "--path", description = "HTTP path: decide at L7")
        String path;

        @Override
        public Integer call() throws Exception {
            int slash = dest.indexOf('/');
            if (slash <= 0 || slash == dest.length() - 1) {
                throw new IllegalArgumentException("--dest must be NS/WORKLOAD[:PORT], got \"" + dest + "\"");
            }
            String ns = dest.substring(0, slash);
            String rest = dest.substring(slash + 1);
            int port = 80;
            int colon = rest.indexOf(':');
            if (colon >= 0) {
                try {
                    port = Integer.parseInt(rest.substring(colon + 1));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("--dest port is not a number: \"" + rest.substring(colon + 1) + "\"");
                }
                rest = rest.substring(0, colon);
            }
            WorkloadRef target = destination(ns, rest);
            if (source != null) {
                SpiffeIds.parse(source);
            }
            var set = Files.isDirectory(policies) ? PolicyLoader.fromDirectory(policies) : PolicyLoader.fromFile(policies);
            for (String w : set.warnings()) {
                System.err.println("warning: " + w);
            }
            PolicyEngine engine = PolicyEngine.builder().rootNamespace(rootNamespace).policies(set).build();
            AccessRequest.Builder req = AccessRequest.builder()
                    .sourcePrincipal(source)
                    .sourceAddress(Addresses.parseIp(sourceIp, "--source-ip"))
                    .destinationAddress(Addresses.parseIp(destIp, "--dest-ip"))
                    .destinationPort(port)
                    .destination(target);
            if (method != null || path != null) {
                req.http(HttpAttributes.of(method == null ? "GET" : method, path == null ? "/" : path));
            }
            Decision d = engine.evaluate(req.build());
            System.out.println(d.explain());
            return d.allowed() ? 0 : 3;
        }

        private WorkloadRef destination(String ns, String name) throws Exception {
            if (workloads != null) {
                Workload w = WorkloadRegistry.load(workloads).byName(ns, name).orElseThrow(() ->
                        new IllegalArgumentException("workload " + ns + "/" + name + " is not in " + workloads));
                Map<String, String> l = new HashMap<>(w.labels());
                l.putAll(labels);
                return new WorkloadRef(ns, name, w.serviceAccount(), l);
            }
            Map<String, String> l = new HashMap<>();
            l.put("app", name);
            l.putAll(labels);
            return new WorkloadRef(ns, name, name, l);
        }
    }
}
